namespace M2M.Storage.Postgres.Schema;

/// <summary>
/// The SQL of every schema version. A released step is never edited: a change is a new version. The
/// reasons for each table, key and index are in <c>docs/storage-layout.md</c> (PostgreSQL).
/// </summary>
internal static class Migrations
{
    public static Migration[] All { get; } =
    [
        new(1, "time series in monthly partitions, latest values, registry nodes, values and file blocks", V1),
    ];

    /// <remarks>
    /// Text keys are <c>COLLATE "C"</c>: byte order of UTF-8, i.e. code-point order, the order of the
    /// RocksDB keys and of <c>RecordIdentity</c>. Times of records are .NET UTC ticks (100 ns) in a
    /// <c>bigint</c>, times of the registry unix milliseconds. Registry values are UTF-8 in <c>bytea</c>:
    /// <c>text</c> cannot hold U+0000, which a value (a device's command response…) may contain.
    /// </remarks>
    private static string V1(PostgresStore s) => $"""
        CREATE TABLE {s.Series} (
            id   text COLLATE "C" NOT NULL,
            time bigint NOT NULL,
            type text COLLATE "C" NOT NULL,
            hash bigint NOT NULL,
            data text NOT NULL,
            CONSTRAINT ts_pkey PRIMARY KEY (id, time, type, hash)
        ) PARTITION BY RANGE (time);
        CREATE INDEX ts_by_type ON {s.Series} (id, type, time, hash);

        CREATE TABLE {s.SeriesMonths} (
            month integer PRIMARY KEY
        );

        CREATE TABLE {s.SeriesLatest} (
            id   text COLLATE "C" NOT NULL,
            type text COLLATE "C" NOT NULL,
            time bigint NOT NULL,
            hash bigint NOT NULL,
            data text NOT NULL,
            CONSTRAINT ts_latest_pkey PRIMARY KEY (id, type)
        ) WITH (fillfactor = 70);

        CREATE TABLE {s.Nodes} (
            path       text COLLATE "C" PRIMARY KEY,
            parent     text COLLATE "C",
            name       text COLLATE "C" NOT NULL,
            status     "char" NOT NULL CHECK (status IN ('c', 'd')),
            deleted_at bigint
        );
        CREATE INDEX registry_node_children ON {s.Nodes} (parent, name) WHERE status = 'c';
        CREATE INDEX registry_node_deletions ON {s.Nodes} (path) WHERE deleted_at IS NOT NULL;
        INSERT INTO {s.Nodes} (path, parent, name, status) VALUES ('/', NULL, '', 'c');

        CREATE TABLE {s.Values} (
            path       text COLLATE "C" NOT NULL REFERENCES {s.Nodes} (path) ON DELETE CASCADE,
            name       text COLLATE "C" NOT NULL,
            value      bytea NOT NULL,
            expires_at bigint NOT NULL DEFAULT 0,
            CONSTRAINT registry_value_pkey PRIMARY KEY (path, name)
        );
        CREATE INDEX registry_value_expiry ON {s.Values} (expires_at) WHERE expires_at <> 0;

        CREATE TABLE {s.Blocks} (
            path  text COLLATE "C" NOT NULL REFERENCES {s.Nodes} (path) ON DELETE CASCADE,
            block bigint NOT NULL,
            data  bytea NOT NULL,
            CONSTRAINT registry_block_pkey PRIMARY KEY (path, block)
        );
        ALTER TABLE {s.Blocks} ALTER COLUMN data SET STORAGE EXTERNAL;
        """;
}
