using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The logger factory of the device listeners' Kestrel server: the same loggers, without scopes.
/// Kestrel begins a scope (the connection id) around every connection for its whole life, which
/// the connection's awaits then carry (a scope and an execution context per idle connection);
/// the device sessions log their connection id in a scope of their own when they work.
/// </summary>
internal sealed class ScopelessLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new ScopelessLogger(inner.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    /// <summary>The inner factory belongs to the host: nothing to dispose here.</summary>
    public void Dispose()
    {
    }

    private sealed class ScopelessLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
