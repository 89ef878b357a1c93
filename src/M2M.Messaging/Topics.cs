namespace M2M.Messaging;

/// <summary>Subjects of the bus (data-model.md §5).</summary>
public static class Topics
{
    /// <summary>Records to persist (<c>store_ts</c>); durable. Carried by <see cref="IRecordBus"/>.</summary>
    public const string Storage = "storage";

    /// <summary>
    /// Records a storage writer has committed, as the <see cref="Storage"/> messages carried them (distributed
    /// only; not durable): API nodes feed them to their live streams.
    /// </summary>
    public const string CommittedRecords = "records.committed";

    /// <summary>
    /// Device events: <c>device_connected</c>, <c>device_identified</c>, <c>device_disconnected</c>,
    /// <c>setting_acknowledged</c>, <c>command_acknowledged</c>, <c>command_failed</c>, <c>new_data_type</c>, <c>new_receiver</c>.
    /// </summary>
    public const string Events = "events";

    /// <summary>What every <see cref="Device"/> subject starts with (followed by the device id, 32 hex digits).</summary>
    public const string DevicePrefix = "receivers.device.";

    /// <summary>What every <see cref="Connection"/> subject starts with (followed by the connection id).</summary>
    public const string ConnectionPrefix = "receivers.connection.";

    /// <summary>Pushes addressed to whichever node holds device <paramref name="deviceId"/>.</summary>
    public static string Device(Guid deviceId) => $"{DevicePrefix}{deviceId:N}";

    /// <summary>Pushes addressed to one connection (unique across nodes: it carries the node name).</summary>
    public static string Connection(string connectionId) => $"{ConnectionPrefix}{connectionId}";

    /// <summary>The device of a <see cref="Device"/> subject; <c>false</c> for any other subject.</summary>
    public static bool TryParseDevice(string subject, out Guid deviceId)
    {
        deviceId = default;
        return subject.StartsWith(DevicePrefix, StringComparison.Ordinal)
            && Guid.TryParseExact(subject.AsSpan(DevicePrefix.Length), "N", out deviceId);
    }

    /// <summary>A converter topic named by a channel-translation rule.</summary>
    public static string Converter(string name) => $"converter.{name}";
}

/// <summary>Values of <c>_call</c>.</summary>
public static class Calls
{
    public const string StoreTs = "store_ts";
    public const string DeviceConnected = "device_connected";
    public const string DeviceIdentified = "device_identified";
    public const string DeviceDisconnected = "device_disconnected";
    public const string NewReceiver = "new_receiver";
    public const string SettingAcknowledged = "setting_acknowledged";
    public const string CommandAcknowledged = "command_acknowledged";
    public const string CommandFailed = "command_failed";
    public const string NewDataType = "new_data_type";
    public const string SendSettings = "send_settings";
    public const string SendCommands = "send_commands";
    public const string Disconnect = "disconnect";
}
