using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace M2M.Api.Http;

/// <summary>
/// The <c>Server-Timing</c> header of every HTTP answer when <see cref="ApiOptions.ServerTiming"/> is on:
/// <c>app;dur=&lt;ms&gt;, mono;desc="&lt;ns&gt;"</c>. <c>app</c> is the time from the first middleware to the
/// answer's headers; <c>mono</c> is the server's monotonic clock at the first middleware, in nanoseconds
/// (on Linux the clock of <see cref="Stopwatch"/> is <c>CLOCK_MONOTONIC</c>, shared by every process of the
/// host). A client on the same host that reads the same clock around its request can therefore split its
/// own latency into the time before the server started the request, the server's time, and the time after
/// (<c>m2m-load query</c> does). Off by default: it tells clients how long the server worked.
/// </summary>
public static class ServerTiming
{
    public const string HeaderName = "Server-Timing";

    /// <summary>The middleware (first in the pipeline, so that it covers the others).</summary>
    public static Task Middleware(HttpContext context, RequestDelegate next)
    {
        var start = Stopwatch.GetTimestamp();
        context.Response.OnStarting(static state =>
        {
            var (response, start) = ((HttpResponse, long))state;
            response.Headers[HeaderName] = Format(start, Stopwatch.GetTimestamp());
            return Task.CompletedTask;
        }, (context.Response, start));
        return next(context);
    }

    /// <summary>The header's value for a request started at <paramref name="start"/> whose headers went at <paramref name="end"/> (<see cref="Stopwatch"/> timestamps).</summary>
    public static string Format(long start, long end) => string.Create(CultureInfo.InvariantCulture,
        $"app;dur={(end - start) * 1000.0 / Stopwatch.Frequency:0.###}, mono;desc=\"{Nanoseconds(start)}\"");

    /// <summary>A <see cref="Stopwatch"/> timestamp in nanoseconds of the same clock.</summary>
    public static long Nanoseconds(long timestamp) => Stopwatch.Frequency == 1_000_000_000
        ? timestamp
        : (long)(timestamp * (1e9 / Stopwatch.Frequency));
}
