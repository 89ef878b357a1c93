using M2M.Api.Live;
using M2M.Storage;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using M2M.Storage.Rocks;
using M2M.Storage.Rocks.Files;
using M2M.Storage.Rocks.Registry;
using M2M.Storage.TimeSeries;
using M2M.Testing;

namespace M2M.Server.Tests;

/// <summary>The storage backend is chosen by <c>M2M:Storage:Backend</c>; a name the server cannot serve stops it.</summary>
public class StorageBackendTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("rocks")]
    [InlineData(" Rocks ")]
    public async Task Without_a_backend_or_with_rocks_the_server_stores_in_RocksDB_under_the_data_directory(string? backend)
    {
        using var data = new TempDirectory("m2m-backend");
        string[] args = backend is null
            ? ["--M2M:DataDirectory", data.Path]
            : ["--M2M:DataDirectory", data.Path, $"--{StorageOptions.BackendKey}={backend}"];
        var app = M2MServer.Build(args);
        try
        {
            // The API wraps the backend's store to hand committed records to live streams.
            var series = Assert.IsType<LiveRecordsStore>(app.Services.GetRequiredService<ITimeSeriesStore>());
            Assert.IsType<RocksTimeSeriesStore>(series.Inner);
            Assert.IsType<RocksRegistry>(app.Services.GetRequiredService<IRegistry>());
            Assert.IsType<RocksFileStore>(app.Services.GetRequiredService<IFileStore>());
            Assert.Equal(Path.Combine(data.Path, "db"), app.Services.GetRequiredService<RocksStore>().Directory);
        }
        finally
        {
            await app.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("cassandra")]
    [InlineData("rocksdb")]
    public void An_unknown_backend_stops_the_server_with_a_message_naming_the_key(string backend)
    {
        var error = Assert.Throws<InvalidOperationException>(() => M2MServer.Build([$"--{StorageOptions.BackendKey}={backend}"]));

        Assert.Contains("M2M:Storage:Backend", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{backend}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_postgres_backend_is_refused_while_this_build_has_none()
    {
        var error = Assert.Throws<InvalidOperationException>(() => M2MServer.Build([$"--{StorageOptions.BackendKey}=postgres"]));

        Assert.Contains("M2M:Storage:Backend", error.Message, StringComparison.Ordinal);
        Assert.Contains("PostgreSQL backend is not available", error.Message, StringComparison.Ordinal);
    }
}
