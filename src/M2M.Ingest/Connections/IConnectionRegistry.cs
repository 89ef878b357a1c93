using M2M.Messaging.Presence;

namespace M2M.Ingest.Connections;

/// <summary>
/// The device connections held by this node: who is connected, since when, and how busy. Filled by
/// the ingest listeners; read by pushes and by the API (a device's "connected" state, the
/// "disconnect" action). Thread-safe; every read returns a snapshot.
/// </summary>
/// <remarks>
/// Only this node's connections are known here. To reach a device wherever it is connected, publish
/// <c>disconnect</c> / <c>send_settings</c> / <c>send_commands</c> on
/// <c>Topics.Device(deviceId)</c> instead.
/// </remarks>
public interface IConnectionRegistry : IConnectedDevices
{
    /// <summary>Open connections on this node.</summary>
    int Count { get; }

    /// <summary>A snapshot of every open connection on this node.</summary>
    IReadOnlyList<ConnectionInfo> GetAll();

    /// <summary>The connection <paramref name="connectionId"/>, or <c>null</c> when it is not open on this node.</summary>
    ConnectionInfo? Get(string connectionId);

    /// <summary>The open connections identified as device <paramref name="deviceId"/> (usually 0 or 1).</summary>
    IReadOnlyList<ConnectionInfo> GetByDevice(Guid deviceId);

    /// <summary>Whether device <paramref name="deviceId"/> has an identified connection on this node.</summary>
    new bool IsConnected(Guid deviceId);

    /// <summary>Closes connection <paramref name="connectionId"/>; <c>false</c> when it is not open on this node.</summary>
    bool Disconnect(string connectionId, string reason);

    /// <summary>Closes every connection of device <paramref name="deviceId"/> on this node; returns how many.</summary>
    int DisconnectDevice(Guid deviceId, string reason);
}

/// <summary>The device protocol of a connection.</summary>
public enum DeviceProtocol
{
    /// <summary>The binary protocol (spec/m2mp.md).</summary>
    M2mp,

    /// <summary>The line-based text protocol (spec/alip.md).</summary>
    Alip,
}

/// <summary>A snapshot of one device connection.</summary>
/// <param name="ConnectionId">Unique across nodes: <c>&lt;node&gt;:&lt;counter&gt;</c>.</param>
/// <param name="Protocol">M2MP or ALIP.</param>
/// <param name="RemoteAddress">The device's address and port, e.g. <c>192.0.2.7:51234</c>.</param>
/// <param name="ConnectedAt">When the connection was accepted.</param>
/// <param name="DeviceId">The device, once identified; <c>null</c> before.</param>
/// <param name="Ident">The device's identification, once identified.</param>
/// <param name="IdentifiedAt">When the device was identified.</param>
/// <param name="LastActivity">When the device last sent anything.</param>
/// <param name="MessagesIn">Frames (M2MP) or lines (ALIP) received.</param>
/// <param name="MessagesOut">Frames or lines sent.</param>
/// <param name="BytesIn">Bytes received.</param>
/// <param name="BytesOut">Bytes sent.</param>
/// <param name="RecordsPublished">Time-series records handed to the storage topic.</param>
public sealed record ConnectionInfo(
    string ConnectionId,
    DeviceProtocol Protocol,
    string RemoteAddress,
    DateTimeOffset ConnectedAt,
    Guid? DeviceId,
    string? Ident,
    DateTimeOffset? IdentifiedAt,
    DateTimeOffset LastActivity,
    long MessagesIn,
    long MessagesOut,
    long BytesIn,
    long BytesOut,
    long RecordsPublished);
