using M2M.Storage;
using M2M.Storage.Postgres;
using M2M.Storage.Rocks;

namespace M2M.Server;

/// <summary>
/// Picks the storage backend named by <c>M2M:Storage:Backend</c> (<see cref="StorageOptions.BackendKey"/>)
/// and registers it beside the engine-neutral part that <c>AddStorage()</c> adds.
/// </summary>
public static class StorageBackends
{
    /// <summary>The embedded RocksDB backend (the default): <c>&lt;DataDirectory&gt;/db</c>.</summary>
    public const string Rocks = "rocks";

    /// <summary>The shared PostgreSQL backend, on <c>ConnectionStrings:m2mdb</c> (schema <c>M2M:Storage:Postgres:Schema</c>).</summary>
    public const string Postgres = "postgres";

    /// <summary>
    /// The backend the configuration names (<see cref="Rocks"/> when the key is absent), lower case.
    /// </summary>
    public static string NameOf(IConfiguration configuration) =>
        configuration[StorageOptions.BackendKey] is { } configured && !string.IsNullOrWhiteSpace(configured) ? configured.Trim().ToLowerInvariant() : Rocks;

    /// <summary>
    /// Registers the backend the configuration names; <see cref="Rocks"/> when the key is absent.
    /// </summary>
    /// <exception cref="InvalidOperationException">The name is unknown, or its backend lacks its configuration
    /// (PostgreSQL without a connection string): the server does not start (no silent fallback to another backend).</exception>
    public static TBuilder AddStorageBackend<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var configured = builder.Configuration[StorageOptions.BackendKey];
        switch (NameOf(builder.Configuration))
        {
            case Rocks:
                builder.AddRocksStorage();
                break;
            case Postgres:
                builder.AddPostgresStorage();
                break;
            default:
                throw new InvalidOperationException(
                    $"{StorageOptions.BackendKey} is '{configured}', which is not a storage backend; use '{Rocks}' (the default) or '{Postgres}'.");
        }
        return builder;
    }
}
