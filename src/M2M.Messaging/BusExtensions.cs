using M2M.Messaging.InProcess;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace M2M.Messaging;

/// <summary>Registers the bus in a host.</summary>
public static class BusExtensions
{
    /// <summary>
    /// The in-process bus (single node): events and pushes between modules of this process, and the
    /// storage topic feeding the batch writer (which <c>AddStorage</c> registers).
    /// </summary>
    public static TBuilder AddBus<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.TryAddSingleton<IMessageBus, InProcessMessageBus>();
        builder.Services.TryAddSingleton<IRecordBus, InProcessRecordBus>();
        return builder;
    }

    /// <summary>
    /// Subscribes and waits for the subscription to be in place, for callers that cannot await (the
    /// in-process bus completes at once; a broker's bus blocks the caller for a round trip). Code
    /// that can await uses <see cref="IMessageBus.SubscribeAsync"/>.
    /// </summary>
    public static IDisposable Subscribe(this IMessageBus bus, string subject, Func<BusMessage, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(bus);
        var pending = bus.SubscribeAsync(subject, handler);
        var subscription = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
        return new SyncHandle(subscription);
    }

    private sealed class SyncHandle(IAsyncDisposable subscription) : IDisposable
    {
        public void Dispose()
        {
            var pending = subscription.DisposeAsync();
            if (!pending.IsCompletedSuccessfully)
            {
                pending.AsTask().GetAwaiter().GetResult();
            }
        }
    }
}
