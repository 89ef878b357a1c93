using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The opt-in Prometheus scrape endpoint (configuration section <c>M2M:Metrics</c>):
/// <c>Prometheus=true</c> exports every meter the OpenTelemetry pipeline collects at
/// <see cref="Path"/>, beside OTLP. Scrapers send no token, so the endpoint answers only clients
/// of <c>AllowedNetworks</c> (comma-separated CIDR blocks; by default loopback and the private
/// ranges) and 403 to the others. Behind a reverse proxy the peer is the proxy: narrow the list or
/// block the path there.
/// </summary>
public static class PrometheusScraping
{
    /// <summary>Configuration section.</summary>
    public const string Section = "M2M:Metrics";

    /// <summary>Path of the scrape endpoint.</summary>
    public const string Path = "/metrics";

    /// <summary>Networks allowed to scrape when <c>AllowedNetworks</c> is not set.</summary>
    public const string DefaultAllowedNetworks = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

    /// <summary>Whether <c>M2M:Metrics:Prometheus</c> turns the endpoint on.</summary>
    public static bool IsEnabled(IConfiguration configuration) => configuration.GetValue($"{Section}:Prometheus", false);

    /// <summary>The allowed networks of <c>M2M:Metrics:AllowedNetworks</c>.</summary>
    /// <exception cref="FormatException">An entry is not a CIDR block (the process should not start with it).</exception>
    public static IReadOnlyList<IPNetwork> AllowedNetworks(IConfiguration configuration)
    {
        var text = configuration[$"{Section}:AllowedNetworks"];
        var entries = (string.IsNullOrWhiteSpace(text) ? DefaultAllowedNetworks : text)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var networks = new List<IPNetwork>(entries.Length);
        foreach (var entry in entries)
        {
            if (!IPNetwork.TryParse(entry, out var network))
            {
                throw new FormatException($"{Section}:AllowedNetworks: '{entry}' is not a CIDR block such as 10.0.0.0/8 or fc00::/7.");
            }
            networks.Add(network);
        }
        return networks;
    }

    /// <summary>Whether <paramref name="address"/> (IPv4 also when mapped into IPv6) is in one of <paramref name="networks"/>.</summary>
    public static bool IsAllowed(IPAddress? address, IReadOnlyList<IPNetwork> networks)
    {
        if (address is null)
        {
            return false;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Maps the scrape endpoint behind the network allow-list (when enabled).</summary>
    internal static void Map(WebApplication app)
    {
        if (!IsEnabled(app.Configuration))
        {
            return;
        }
        var allowed = AllowedNetworks(app.Configuration);
        app.MapPrometheusScrapingEndpoint(Path, meterProvider: null, configureBranchedPipeline: branch => branch.Use((context, next) =>
        {
            if (IsAllowed(context.Connection.RemoteIpAddress, allowed))
            {
                return next(context);
            }
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return Task.CompletedTask;
        }), optionsName: null);
    }
}
