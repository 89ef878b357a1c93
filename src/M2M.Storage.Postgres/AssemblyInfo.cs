using System.Runtime.CompilerServices;

// The PostgreSQL tests reach the migrator (an older schema, a newer one) and the partition maintenance.
[assembly: InternalsVisibleTo("M2M.Storage.Postgres.Tests")]
