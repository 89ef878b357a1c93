using M2M.Messaging;
using M2M.Storage.Entities;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    // name → (value, when it was last sent on this connection): a name=value is not re-sent within the resend interval.
    // Created with the first setting sent: most connections never get one.
    private Dictionary<string, (string Value, long Tick)>? _sentSettings;

    /// <summary>Writes the settings to deliver (M2MP: one <c>_set ["sg", "n=v", …]</c>; ALIP: <c>S S n v</c> lines).</summary>
    protected abstract void WriteSettingsToSet(IReadOnlyList<KeyValuePair<string, string>> settings);

    /// <summary>
    /// Writes the settings the platform still has to deliver (not acknowledged), leaving out a
    /// name=value already sent on this connection within <see cref="IngestOptions.SettingResendInterval"/>.
    /// </summary>
    protected async ValueTask PushSettingsAsync()
    {
        var toSend = await Services.Devices.GetSettingsToSendAsync(DeviceId, Closing);
        if (toSend.Count == 0)
        {
            return;
        }
        var now = Environment.TickCount64;
        var resend = (long)Options.SettingResendInterval.TotalMilliseconds;
        List<KeyValuePair<string, string>>? settings = null;
        foreach (var (name, value) in toSend.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (_sentSettings is not null && _sentSettings.TryGetValue(name, out var sent) && sent.Value == value && now - sent.Tick < resend)
            {
                continue;
            }
            (_sentSettings ??= new(StringComparer.Ordinal))[name] = (value, now);
            (settings ??= []).Add(new(name, value));
        }
        if (settings is not null)
        {
            Logger.LogDebug("Sending {Count} settings", settings.Count);
            WriteSettingsToSet(settings);
        }
    }

    /// <summary>Every setting of the device with its current value (the answer to "get all").</summary>
    protected async ValueTask<IReadOnlyList<KeyValuePair<string, string>>> GetAllSettingsAsync()
    {
        var all = await Services.Devices.GetSettingsAsync(DeviceId, Closing);
        return [.. all.Select(s => new KeyValuePair<string, string>(s.Name, s.Value))];
    }

    /// <summary>The device acknowledges or reports <paramref name="name"/> = <paramref name="value"/>.</summary>
    protected async ValueTask AckSettingAsync(string name, string value)
    {
        var result = await Services.Devices.AckSettingAsync(DeviceId, name, value, Services.Time.GetUtcNow(), Closing);
        if (result == SettingAckResult.Acknowledged)
        {
            _sentSettings?.Remove(name);
        }
        if (result is SettingAckResult.Acknowledged or SettingAckResult.Reported)
        {
            await PublishEventAsync(NewEvent(Calls.SettingAcknowledged)
                .With("name", name)
                .With("value", value)
                .With("result", result == SettingAckResult.Acknowledged ? "acknowledged" : "reported"));
        }
        Logger.LogDebug("Setting {Name} reported: {Result}", name, result);
    }

    /// <summary>The device does not know <paramref name="name"/>: the setting is deleted.</summary>
    protected async ValueTask DeleteSettingAsync(string name)
    {
        await Services.Devices.DeleteSettingAsync(DeviceId, name, Closing);
        _sentSettings?.Remove(name);
    }

    /// <summary>Splits <c>name=value</c>; <c>false</c> without <c>=</c> or with an empty name.</summary>
    protected static bool TrySplitSetting(string item, out string name, out string value)
    {
        var eq = item.IndexOf('=');
        if (eq <= 0)
        {
            name = value = "";
            return false;
        }
        name = item[..eq];
        value = item[(eq + 1)..];
        return true;
    }
}
