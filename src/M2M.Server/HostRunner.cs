using Microsoft.Extensions.Options;

namespace M2M.Server;

/// <summary>
/// Runs a host the way every entry point (<c>M2M.Server</c>, <c>M2M.IngestNode</c>, <c>M2M.ApiNode</c>)
/// does: a host that cannot be built or started (a port already in use, an unreadable TLS certificate,
/// an invalid setting) logs why, stops what its start had begun (closing the database after the
/// services that use it), and the process exits with <see cref="FailureExitCode"/> instead of aborting
/// on an unhandled exception (exit code 134 on Linux) with the database still open.
/// </summary>
public static class HostRunner
{
    /// <summary>The exit code of a host that could not be built, started or stopped cleanly.</summary>
    public const int FailureExitCode = 1;

    /// <summary>The log category of the messages written here.</summary>
    public const string LogCategory = "M2M.Server.HostRunner";

    /// <summary>
    /// Builds the host with <paramref name="build"/>, starts it, waits for the shutdown (SIGTERM, Ctrl+C),
    /// stops and disposes it. Returns 0, or <see cref="FailureExitCode"/> when building, starting or stopping failed.
    /// </summary>
    public static async Task<int> RunAsync(Func<IHost> build)
    {
        IHost host;
        try
        {
            host = build();
        }
        catch (Exception e)
        {
            // No logger yet: the configuration that would set one up is what failed.
            await System.Console.Error.WriteLineAsync($"crit: {LogCategory}: the server cannot be configured: {e}");
            return FailureExitCode;
        }

        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(LogCategory);
        var exitCode = 0;
        try
        {
            try
            {
                await host.StartAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                logger.LogCritical(e, "The server did not start ({Reason}); it stops and exits with code {ExitCode}.", Reason(e), FailureExitCode);
                await StopAfterFailedStartAsync(host, logger).ConfigureAwait(false);
                return FailureExitCode;
            }
            try
            {
                await host.WaitForShutdownAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                logger.LogCritical(e, "The server did not stop cleanly ({Reason})", Reason(e));
                exitCode = FailureExitCode;
            }
        }
        finally
        {
            if (!await DisposeAsync(host, logger).ConfigureAwait(false))
            {
                exitCode = FailureExitCode;
            }
        }
        return exitCode;
    }

    /// <summary>
    /// After <see cref="IHost.StartAsync"/> threw: stops the hosted services (those that started end their
    /// work, the others have nothing to end) so that disposing the host afterwards closes the database
    /// when nothing uses it any more. Never throws; what fails is logged to <paramref name="logger"/>.
    /// The caller disposes the host.
    /// </summary>
    public static async Task StopAfterFailedStartAsync(IHost host, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        try
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (ArgumentNullException) when (!HostedServicesResolved(host))
        {
            // The host failed before it created its hosted services (ValidateOnStart runs first), so none
            // started; its StopAsync (.NET 10) then throws on its missing list of services. Nothing to stop.
        }
        catch (Exception e)
        {
            logger?.LogError(e, "Stopping the services after the failed start failed ({Reason})", Reason(e));
        }
    }

    /// <summary>
    /// After <see cref="IHost.StartAsync"/> threw: <see cref="StopAfterFailedStartAsync"/>, then disposes the
    /// host (closing the database once nothing uses it). For callers that start hosts themselves (tests);
    /// never throws, so the caller can rethrow the start's own exception.
    /// </summary>
    public static async Task ReleaseAfterFailedStartAsync(IHost host, ILogger? logger = null)
    {
        await StopAfterFailedStartAsync(host, logger).ConfigureAwait(false);
        if (await TryDisposeAsync(host).ConfigureAwait(false) is { } e)
        {
            logger?.LogError(e, "Releasing the resources after the failed start failed ({Reason})", Reason(e));
        }
    }

    /// <summary>
    /// Whether the start got as far as creating the hosted services: the options validated on start are
    /// checked before that, so an invalid one means none was created. Read from the services' own state,
    /// never by creating them now.
    /// </summary>
    private static bool HostedServicesResolved(IHost host)
    {
        try
        {
            host.Services.GetService<IStartupValidator>()?.Validate();
            return true;
        }
        catch (OptionsValidationException)
        {
            return false;
        }
    }

    private static async Task<bool> DisposeAsync(IHost host, ILogger logger)
    {
        if (await TryDisposeAsync(host).ConfigureAwait(false) is not { } e)
        {
            return true;
        }
        logger.LogCritical(e, "Releasing the server's resources failed ({Reason})", Reason(e));
        return false;
    }

    /// <summary>Disposes <paramref name="host"/> (asynchronously when it can); the exception it threw, or <c>null</c>.</summary>
    private static async Task<Exception?> TryDisposeAsync(IHost host)
    {
        try
        {
            if (host is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                host.Dispose();
            }
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>The messages of an exception and of those it wraps (an aggregate's inner ones), on one line.</summary>
    private static string Reason(Exception e) => e switch
    {
        AggregateException aggregate => string.Join(" ", aggregate.Flatten().InnerExceptions.Select(Reason)),
        { InnerException: { } inner } when e is not OptionsValidationException => $"{e.Message} ({Reason(inner)})",
        _ => e.Message,
    };
}
