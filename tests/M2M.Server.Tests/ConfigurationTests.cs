using M2M.Ingest;
using M2M.Storage;
using Microsoft.Extensions.Options;

namespace M2M.Server.Tests;

public class ConfigurationTests
{
    [Fact]
    public void Defaults_reserve_device_ports_and_data_directory()
    {
        var app = M2MServer.Build([]);

        var ingest = app.Services.GetRequiredService<IOptions<IngestOptions>>().Value;
        var storage = app.Services.GetRequiredService<IOptions<StorageOptions>>().Value;

        Assert.Equal(3010, ingest.M2mpPort);
        Assert.Equal(3050, ingest.AlipPort);
        Assert.Equal("./data", storage.DataDirectory);
        Assert.Equal(M2MServer.DefaultUrls, app.Urls.Count == 0 ? app.Configuration["urls"] ?? M2MServer.DefaultUrls : string.Join(';', app.Urls));
    }

    [Fact]
    public void Command_line_overrides_ports_and_data_directory()
    {
        var app = M2MServer.Build(["--M2M:Ingest:M2mpPort", "4010", "--M2M:Ingest:AlipPort", "4050", "--M2M:DataDirectory", "/tmp/elsewhere"]);

        var ingest = app.Services.GetRequiredService<IOptions<IngestOptions>>().Value;
        var storage = app.Services.GetRequiredService<IOptions<StorageOptions>>().Value;

        Assert.Equal(4010, ingest.M2mpPort);
        Assert.Equal(4050, ingest.AlipPort);
        Assert.Equal("/tmp/elsewhere", storage.DataDirectory);
    }

    [Fact]
    public async Task Invalid_port_is_refused_at_start()
    {
        var app = M2MServer.Build(["--urls", "http://127.0.0.1:0", "--M2M:Ingest:M2mpPort", "70000"]);

        await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        await app.DisposeAsync();
    }
}
