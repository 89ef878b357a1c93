namespace M2M.Storage.Entities;

/// <summary>A device (<c>/device/&lt;id&gt;/</c>).</summary>
/// <param name="Id">Its id.</param>
/// <param name="Ident">Its unique ident (e.g. <c>imei:35412345678</c>).</param>
/// <param name="DisplayName">Optional display name.</param>
/// <param name="DomainId">The domain it belongs to.</param>
/// <param name="Owner">Optional owner.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="Protocol">The protocol of its last identification (<see cref="DeviceProtocols"/>), or <c>null</c> before the first.</param>
public sealed record Device(Guid Id, string Ident, string? DisplayName, Guid DomainId, string? Owner, DateTimeOffset CreatedAt, string? Protocol = null);

/// <summary>The values of <see cref="Device.Protocol"/>.</summary>
public static class DeviceProtocols
{
    /// <summary>The binary protocol: a command's lines travel as the items of one <c>_cmd</c> array.</summary>
    public const string M2mp = "m2mp";

    /// <summary>The line protocol: a command is one line, so it cannot hold a line break.</summary>
    public const string Alip = "alip";
}

/// <summary>A device listing query. <see cref="Cursor"/> is the <see cref="DevicePage.NextCursor"/> of the previous page.</summary>
/// <param name="Search">Case-insensitive substring of the ident or the display name.</param>
/// <param name="DomainId">Only devices of this domain.</param>
/// <param name="Limit">Page size (1–<see cref="MaxLimit"/>).</param>
/// <param name="Cursor">Opaque continuation.</param>
public sealed record DeviceQuery(string? Search = null, Guid? DomainId = null, int Limit = 100, string? Cursor = null)
{
    /// <summary>Largest page.</summary>
    public const int MaxLimit = 1000;
}

/// <summary>A page of devices and the cursor of the next page (<c>null</c> on the last page).</summary>
public sealed record DevicePage(IReadOnlyList<Device> Items, string? NextCursor);

/// <summary>A device setting.</summary>
/// <param name="Name">Setting name.</param>
/// <param name="Value">The current (wanted) value.</param>
/// <param name="Pending"><c>true</c> while in <c>settings-to-send</c> (not acknowledged by the device).</param>
/// <param name="AckedAt">When the current value was acknowledged or reported by the device.</param>
public sealed record DeviceSetting(string Name, string Value, bool Pending, DateTimeOffset? AckedAt);

/// <summary>What <see cref="IDeviceStore.AckSettingAsync"/> did.</summary>
public enum SettingAckResult
{
    /// <summary>The device acknowledged the pending value: no longer pending, ack time recorded.</summary>
    Acknowledged,

    /// <summary>Nothing was pending: the device's value became the current setting.</summary>
    Reported,

    /// <summary>Another value is pending: it stays to be sent; the report is ignored.</summary>
    IgnoredPendingDiffers,
}

/// <summary>The state of a command.</summary>
public enum CommandState
{
    /// <summary>Queued, not yet pushed.</summary>
    Pending,

    /// <summary>Pushed to the device, not yet acknowledged.</summary>
    Sent,

    /// <summary>Acknowledged by the device (response kept).</summary>
    Acknowledged,

    /// <summary>Its time-to-live passed before delivery; never sent.</summary>
    Expired,

    /// <summary>It could not be delivered (e.g. a multi-line command for an ALIP device); never sent, see <see cref="DeviceCommand.Failure"/>.</summary>
    Failed,
}

/// <summary>A command queued for a device.</summary>
/// <param name="Id">Time-ordered id (sorts by creation).</param>
/// <param name="Text">Command text (lines separated by <c>\n</c>).</param>
/// <param name="State">Current state.</param>
/// <param name="CreatedAt">When it was added.</param>
/// <param name="ExpiresAt">When it expires unless sent.</param>
/// <param name="SentAt">When it was last pushed.</param>
/// <param name="AckedAt">When the device acknowledged it.</param>
/// <param name="Response">The device's response (lines joined with <c>\n</c>).</param>
/// <param name="FailedAt">When it was marked <see cref="CommandState.Failed"/>.</param>
/// <param name="Failure">Why it failed.</param>
public sealed record DeviceCommand(
    string Id,
    string Text,
    CommandState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? SentAt,
    DateTimeOffset? AckedAt,
    string? Response,
    DateTimeOffset? FailedAt = null,
    string? Failure = null);

/// <summary>A sensor announced by a device.</summary>
public sealed record ListedSensor(string Name, DateTimeOffset FirstSeen, DateTimeOffset LastSeen);

/// <summary>A channel-translation rule (stored as <c>NNNN_&lt;regex&gt;</c> → topic).</summary>
/// <param name="Priority">0–9999, lower first.</param>
/// <param name="Pattern">Regular expression a channel name must fully match.</param>
/// <param name="Topic">The converter topic.</param>
public sealed record ChannelTranslationRule(int Priority, string Pattern, string Topic);
