using M2M.Ingest.Connections;
using Microsoft.AspNetCore.Connections;

namespace M2M.Ingest.Sessions;

/// <summary>Kestrel's entry point for M2MP connections: one <see cref="M2mpSession"/> each, within the node's connection limit.</summary>
internal sealed class M2mpConnectionHandler(SessionServices services) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) =>
        services.TryAdmit(connection, DeviceProtocol.M2mp)
            ? services.RunAdmittedAsync(() => new M2mpSession(connection, services))
            : Task.CompletedTask;
}

/// <summary>Kestrel's entry point for ALIP connections: one <see cref="AlipSession"/> each, within the node's connection limit.</summary>
internal sealed class AlipConnectionHandler(SessionServices services) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) =>
        services.TryAdmit(connection, DeviceProtocol.Alip)
            ? services.RunAdmittedAsync(() => new AlipSession(connection, services))
            : Task.CompletedTask;
}
