using M2M.Storage;
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

    /// <summary>The shared PostgreSQL backend, on <c>ConnectionStrings:m2mdb</c>; not available in this build yet.</summary>
    public const string Postgres = "postgres";

    /// <summary>
    /// Registers the backend the configuration names; <see cref="Rocks"/> when the key is absent.
    /// </summary>
    /// <exception cref="InvalidOperationException">The name is unknown, or its backend is not available:
    /// the server does not start (no silent fallback to another backend).</exception>
    public static TBuilder AddStorageBackend<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var configured = builder.Configuration[StorageOptions.BackendKey];
        var name = string.IsNullOrWhiteSpace(configured) ? Rocks : configured.Trim().ToLowerInvariant();
        switch (name)
        {
            case Rocks:
                builder.AddRocksStorage();
                break;
            case Postgres:
                throw new InvalidOperationException(
                    $"{StorageOptions.BackendKey} is '{configured}', but the PostgreSQL backend is not available in this build yet; " +
                    $"use '{Rocks}' (the default).");
            default:
                throw new InvalidOperationException(
                    $"{StorageOptions.BackendKey} is '{configured}', which is not a storage backend; use '{Rocks}' (the default) or '{Postgres}'.");
        }
        return builder;
    }
}
