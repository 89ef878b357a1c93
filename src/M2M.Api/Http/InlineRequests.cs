using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Api.Http;

/// <summary>
/// <c>M2M:Api:InlineRequests</c>: HTTP requests served on the thread that receives them instead of crossing
/// the thread pool's queue. Kestrel runs a connection's code where its socket completes
/// (<c>UnsafePreferInlineScheduling</c>), and with the runtime's switch <see cref="RuntimeSwitch"/>=1 a
/// socket completes on its event thread. Under ingest load the pool's workers are busy and each hop of a
/// request through the pool (three or four per request) waits for one of them to get a processor; an event
/// thread sleeps between events and gets one at once (BENCHMARKS.md, "API under ingest load").
/// </summary>
/// <remarks>
/// Work on an event thread holds up every other socket of that thread (device connections included), so
/// only the routes marked <see cref="RunsInline{TBuilder}"/> — short reads from storage — stay there;
/// <see cref="Middleware"/> moves every other request (a login's password hash, a command's synced write,
/// an upload, a backup) to the thread pool before any of its work.
/// </remarks>
public static class InlineRequests
{
    /// <summary>The runtime's switch that runs socket completions on the socket event threads (process-wide).</summary>
    public const string RuntimeSwitch = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Whether the runtime's switch is on in this process (it is read once, at the first socket operation).</summary>
    public static bool RuntimeSwitchOn => Environment.GetEnvironmentVariable(RuntimeSwitch) == "1";

    /// <summary>Marks a route whose requests may run on the thread that received them: a short read that never blocks.</summary>
    public static TBuilder RunsInline<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(Inline.Instance);

    /// <summary>Moves a request of a route not marked <see cref="RunsInline{TBuilder}"/> to the thread pool before its work.</summary>
    public static Task Middleware(HttpContext context, RequestDelegate next) =>
        context.GetEndpoint()?.Metadata.GetMetadata<Inline>() is not null ? next(context) : OnThreadPoolAsync(context, next);

    private static async Task OnThreadPoolAsync(HttpContext context, RequestDelegate next)
    {
        await Task.Yield();
        await next(context);
    }

    /// <summary>The route metadata of <see cref="RunsInline{TBuilder}"/>.</summary>
    public sealed class Inline
    {
        public static readonly Inline Instance = new();

        private Inline()
        {
        }
    }
}
