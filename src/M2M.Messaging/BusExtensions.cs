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
}
