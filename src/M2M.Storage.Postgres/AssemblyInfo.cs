using System.Runtime.CompilerServices;

// The PostgreSQL tests reach the migrator (an older schema, a newer one) and the partition maintenance;
// the benchmarks create the partitions of a raw COPY and hash its rows as the backend does.
[assembly: InternalsVisibleTo("M2M.Storage.Postgres.Tests")]
[assembly: InternalsVisibleTo("M2M.Storage.Benchmarks")]
