namespace M2M.Storage.Postgres.Registry;

public sealed partial class PostgresRegistry
{
    /// <summary>
    /// The registry's statements for one schema. Times are unix milliseconds; a value is live while
    /// <c>expires_at = 0 OR expires_at &gt; now</c> (now is a parameter: the registry's clock decides).
    /// </summary>
    private sealed class Sql(PostgresStore s)
    {
        private const string Live = "(expires_at = 0 OR expires_at > {0})";

        public string Status { get; } = $"SELECT status FROM {s.Nodes} WHERE path = $1";

        public string LockNode { get; } = $"SELECT status FROM {s.Nodes} WHERE path = $1 FOR UPDATE";

        public string ShareNodes { get; } = $"SELECT path, status FROM {s.Nodes} WHERE path = ANY($1) ORDER BY path FOR SHARE";

        public string CreatedNodes { get; } = $"SELECT path FROM {s.Nodes} WHERE path = ANY($1) AND status = 'c'";

        /// <summary>How many of the nodes are created, locked against a deletion until the transaction ends.</summary>
        public string ShareCreatedNodes { get; } = $"SELECT count(*) FROM (SELECT 1 FROM {s.Nodes} WHERE path = ANY($1) AND status = 'c' ORDER BY path FOR SHARE) AS c";

        public string InsertNodes { get; } =
            $"INSERT INTO {s.Nodes} (path, parent, name, status) SELECT p, pp, n, 'c' FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, pp, n) ON CONFLICT (path) DO NOTHING";

        public string PurgeSubtree { get; } = $"DELETE FROM {s.Nodes} WHERE path >= $1 AND path < $2";

        public string MarkDeleted { get; } = $"UPDATE {s.Nodes} SET status = 'd', deleted_at = $2 WHERE path = $1";

        public string MarkDescendantsDeleted { get; } = $"UPDATE {s.Nodes} SET status = 'd' WHERE path > $1 AND path < $2 AND status = 'c'";

        public string DeletionRoots { get; } = $"SELECT path FROM {s.Nodes} WHERE deleted_at IS NOT NULL AND deleted_at < $1 AND status = 'd' ORDER BY path";

        public string AllChildren { get; } = $"SELECT name FROM {s.Nodes} WHERE parent = $1 AND status = 'c' ORDER BY name";

        public string VisibleChildren { get; } = $"SELECT name FROM {s.Nodes} WHERE parent = $1 AND status = 'c' AND name NOT LIKE '.%' ORDER BY name";

        public string Value { get; } = $"SELECT value FROM {s.Values} WHERE path = $1 AND name = $2 AND {string.Format(null, Live, "$3")}";

        public string NamedValues { get; } = $"SELECT name, value FROM {s.Values} WHERE path = $1 AND {string.Format(null, Live, "$2")} AND name = ANY($3)";

        public string Entries { get; } = $"SELECT name, value, expires_at FROM {s.Values} WHERE path = $1 AND {string.Format(null, Live, "$2")} ORDER BY name";

        /// <summary>The node's live values when it is created: no row when it is not, one row with a null name when it has none.</summary>
        public string CreatedEntries { get; } = $"""
            SELECT v.name, v.value FROM {s.Nodes} n LEFT JOIN {s.Values} v ON v.path = n.path AND (v.expires_at = 0 OR v.expires_at > $2)
            WHERE n.path = $1 AND n.status = 'c'
            """;

        public string LockCell { get; } = $"SELECT value, expires_at FROM {s.Values} WHERE path = $1 AND name = $2 FOR UPDATE";

        /// <summary>
        /// Holds an absent cell for the transaction: a row that reads as expired (<c>expires_at = 1</c>, a time no
        /// time-to-live produces), replaced or removed before the commit.
        /// </summary>
        public string InsertPlaceholder { get; } = $"INSERT INTO {s.Values} (path, name, value, expires_at) VALUES ($1, $2, ''::bytea, 1) ON CONFLICT DO NOTHING";

        public string UpsertValue { get; } = $"""
            INSERT INTO {s.Values} (path, name, value, expires_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
            """;

        public string UpsertValues { get; } = $"""
            INSERT INTO {s.Values} (path, name, value, expires_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[])
            ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
            """;

        /// <summary>The one-statement write of a value into a created node; no row when the node is not created.</summary>
        public string SetValueIfCreated { get; } = $"""
            INSERT INTO {s.Values} (path, name, value, expires_at) SELECT $1, $2, $3, $4 FROM {s.Nodes} WHERE path = $1 AND status = 'c'
            ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
            """;

        /// <summary>
        /// A conditional batch as one statement, so one round trip and one commit ($1 the paths written to;
        /// $2, $3, $4 the conditions' paths, names and expected values, distinct; $5 now; $6–$9 the cells set;
        /// $10, $11 the cells deleted). The cells of the conditions are locked <c>FOR UPDATE</c> in path, name
        /// order (a concurrent writer of one is waited for, and the condition is then checked on its newest
        /// version); the writes happen only when every condition holds and every node written to is created.
        /// Returns whether the nodes are created and whether the conditions hold.
        /// </summary>
        public string ConditionalWrite { get; } = $"""
            WITH held AS (
              SELECT v.path FROM {s.Values} v JOIN unnest($2::text[], $3::text[], $4::bytea[]) AS c(p, n, e) ON v.path = c.p AND v.name = c.n
              WHERE v.value = c.e AND (v.expires_at = 0 OR v.expires_at > $5)
              ORDER BY v.path, v.name FOR UPDATE OF v
            ), ok AS (
              SELECT (SELECT count(*) FROM {s.Nodes} WHERE path = ANY($1) AND status = 'c') = cardinality($1) AS nodes,
                     (SELECT count(*) FROM held) = cardinality($2) AS conditions
            ), upsert AS (
              INSERT INTO {s.Values} (path, name, value, expires_at) SELECT * FROM unnest($6::text[], $7::text[], $8::bytea[], $9::bigint[])
              WHERE (SELECT nodes AND conditions FROM ok)
              ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
            ), removed AS (
              DELETE FROM {s.Values} WHERE (path, name) IN (SELECT * FROM unnest($10::text[], $11::text[])) AND (SELECT nodes AND conditions FROM ok)
            )
            SELECT nodes, conditions FROM ok
            """;

        public string DeleteValue { get; } = $"DELETE FROM {s.Values} WHERE path = $1 AND name = $2 RETURNING {string.Format(null, Live, "$3")}";

        public string DeleteValues { get; } = $"DELETE FROM {s.Values} WHERE (path, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))";

        public string DeleteExpired { get; } = $"DELETE FROM {s.Values} WHERE expires_at <> 0 AND expires_at <= $1";

        /// <summary>Compare-and-set from absent ($1 path, $2 name, $3 now, $4 value): inserts, or takes over an expired row only.</summary>
        public string ClaimValue { get; } = $"""
            INSERT INTO {s.Values} AS v (path, name, value, expires_at) SELECT $1, $2, $4, 0 FROM {s.Nodes} WHERE path = $1 AND status = 'c'
            ON CONFLICT (path, name) DO UPDATE SET value = EXCLUDED.value, expires_at = 0 WHERE v.expires_at <> 0 AND v.expires_at <= $3
            """;

        /// <summary>Compare-and-delete ($1 path, $2 name, $3 now, $4 expected).</summary>
        public string DeleteValueIf { get; } = $"DELETE FROM {s.Values} WHERE path = $1 AND name = $2 AND value = $4 AND {string.Format(null, Live, "$3")}";

        /// <summary>Compare-and-set from a value ($1 path, $2 name, $3 now, $4 expected, $5 value).</summary>
        public string ReplaceValueIf { get; } = $"UPDATE {s.Values} SET value = $5, expires_at = 0 WHERE path = $1 AND name = $2 AND value = $4 AND {string.Format(null, Live, "$3")}";

        public string DeleteBlocks { get; } = $"DELETE FROM {s.Blocks} WHERE path = $1";

        public string HasBlocks { get; } = $"SELECT EXISTS (SELECT 1 FROM {s.Blocks} WHERE path = $1)";

        public string CopyBlocks { get; } = $"INSERT INTO {s.Blocks} (path, block, data) SELECT $2, block, data FROM {s.Blocks} WHERE path = $1";
    }
}
