using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace M2M.Ingest;

/// <summary>Registers the ingest module (device listeners) in a host.</summary>
public static class IngestExtensions
{
    public static TBuilder AddIngest<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<IngestOptions>()
            .Bind(builder.Configuration.GetSection(IngestOptions.Section))
            .Validate(o => o.M2mpPort is >= 0 and <= 65535 && o.AlipPort is >= 0 and <= 65535, "Ingest ports must be in 0..65535.")
            .ValidateOnStart();
        return builder;
    }
}
