using Microsoft.AspNetCore.Connections;

namespace M2M.Ingest.Sessions;

/// <summary>Kestrel's entry point for M2MP connections: one <see cref="M2mpSession"/> each.</summary>
internal sealed class M2mpConnectionHandler(SessionServices services) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) => new M2mpSession(connection, services).RunAsync();
}

/// <summary>Kestrel's entry point for ALIP connections: one <see cref="AlipSession"/> each.</summary>
internal sealed class AlipConnectionHandler(SessionServices services) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) => new AlipSession(connection, services).RunAsync();
}
