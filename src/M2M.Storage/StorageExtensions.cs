using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace M2M.Storage;

/// <summary>Registers the storage module in a host.</summary>
public static class StorageExtensions
{
    public static TBuilder AddStorage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataDirectory), "M2M:DataDirectory must not be empty.")
            .ValidateOnStart();
        builder.Services.AddRegistryStorage();
        return builder;
    }
}
