using System.Buffers;
using System.Text;
using System.Text.Unicode;
using M2M.Ingest.M2mp;
using M2M.Ingest.Values;
using M2M.Storage.Entities;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal sealed partial class M2mpSession
{
    /// <summary>
    /// An array frame: the reserved channels <c>_set</c>, <c>_sta</c>, <c>_cmd</c>; <c>sen:*</c>
    /// (<c>[u32 time, value]</c>); any other channel stored as the JSON array of its items as strings.
    /// Other channels starting with <c>_</c> are the platform's: dropped and counted.
    /// </summary>
    private async ValueTask OnArrayAsync(string channel, M2mpFrame frame)
    {
        switch (channel)
        {
            case SettingsChannel:
                await OnSettingsAsync(StrictTexts(frame));
                return;
            case StatusChannel:
                await OnStatusAsync(StrictTexts(frame));
                return;
            case CommandsChannel:
                await OnCommandAsync(Texts(frame));
                return;
        }
        if (!IsRecordChannel(channel))
        {
            CountError(channel.StartsWith('_') ? "reserved_channel" : "invalid_type");
            return;
        }

        if (await GetTranslationAsync(channel) is { } topic)
        {
            await PublishToConverterAsync(topic, channel, null, JsonArray(frame), frame.Payload);
            return;
        }

        if (channel.StartsWith("sen:", StringComparison.Ordinal))
        {
            // [u32 unix time, value text] → one record of that type at that time.
            var items = frame.GetItems();
            if (frame.ItemCount != 2 || !items.MoveNext() || !items.Current.TryReadUInt32BigEndian(out var seconds) || !items.MoveNext())
            {
                CountError("invalid_sensor_array");
                Logger.LogInformation("Dropped {Channel} array: expected [u32 time, value]", channel);
                return;
            }
            await PublishTextAsync(channel, DeviceTime(seconds), JsonString.FromUtf8(items.Current));
            return;
        }

        await PublishTextAsync(channel, null, JsonArray(frame));
    }

    /// <summary>
    /// <c>_set</c>: <c>["ga"]</c> → every setting as <c>["sg", …]</c>; <c>["u", names…]</c> → unknown to
    /// the device: deleted; <c>["g…", "name=value"…]</c> → acknowledged or reported values. An item
    /// that is not UTF-8, or whose name or value breaks the setting rules (<see cref="DeviceValues"/>),
    /// is dropped and counted; the other items are applied.
    /// </summary>
    private async ValueTask OnSettingsAsync(string?[] items)
    {
        if (items.Length == 0 || items[0] is not { } verb)
        {
            CountError("unknown_settings_verb");
            return;
        }
        if (verb == "ga")
        {
            var all = await GetAllSettingsAsync();
            WriteSettingsToSet(all);
            return;
        }
        if (verb == "u")
        {
            foreach (var name in items.Skip(1))
            {
                if (name is not null && DeviceValues.IsValidSettingName(name))
                {
                    await DeleteSettingAsync(name);
                }
                else
                {
                    CountError("invalid_setting");
                }
            }
            return;
        }
        if (verb.Contains('g', StringComparison.Ordinal))
        {
            foreach (var item in items.Skip(1))
            {
                if (item is not null && TrySplitSetting(item, out var name, out var value)
                    && DeviceValues.IsValidSettingName(name) && DeviceValues.IsValidSettingValue(value))
                {
                    await AckSettingAsync(name, value);
                }
                else
                {
                    CountError("invalid_setting");
                }
            }
            return;
        }
        CountError("unknown_settings_verb");
    }

    /// <summary>
    /// <c>_sta ["g…", "name=value"…]</c>: the device's status values. A name follows the registry's
    /// rules, a value the rules of a setting value (one line of text); bad items are dropped and counted.
    /// </summary>
    private async ValueTask OnStatusAsync(string?[] items)
    {
        if (items.Length == 0 || items[0]?.Contains('g', StringComparison.Ordinal) != true)
        {
            CountError("unknown_status_verb");
            return;
        }
        foreach (var item in items.Skip(1))
        {
            if (item is not null && TrySplitSetting(item, out var name, out var value)
                && DeviceValues.IsValidStatusName(name) && DeviceValues.IsValidSettingValue(value))
            {
                await Services.Devices.SetStatusAsync(DeviceId, name, value, Closing);
            }
            else
            {
                CountError("invalid_status");
            }
        }
    }

    /// <summary><c>_cmd ["a…", commandId, response lines…]</c>: the command is acknowledged, the response kept.</summary>
    private async ValueTask OnCommandAsync(string[] items)
    {
        if (items.Length < 2 || !items[0].Contains('a', StringComparison.Ordinal))
        {
            CountError("unknown_command_verb");
            return;
        }
        var response = items.Length > 2 ? string.Join('\n', items, 2, items.Length - 2) : null;
        if (!await AckCommandAsync(items[1], response))
        {
            CountError("unknown_command");
        }
    }

    /// <summary>The items as text; an item that is not valid UTF-8 is <c>null</c>.</summary>
    private static string?[] StrictTexts(M2mpFrame frame)
    {
        var texts = new string?[frame.ItemCount];
        var i = 0;
        foreach (var item in frame.GetItems())
        {
            var bytes = item.IsSingleSegment ? item.FirstSpan : item.ToArray();
            texts[i++] = Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : null;
        }
        return texts;
    }

    /// <summary>The items as text; invalid UTF-8 becomes U+FFFD (command responses are kept, not refused).</summary>
    private static string[] Texts(M2mpFrame frame)
    {
        var texts = new string[frame.ItemCount];
        var i = 0;
        foreach (var item in frame.GetItems())
        {
            texts[i++] = item.IsSingleSegment ? Encoding.UTF8.GetString(item.FirstSpan) : Encoding.UTF8.GetString(item.ToArray());
        }
        return texts;
    }

    /// <summary>The items as a JSON array of strings.</summary>
    private static string JsonArray(M2mpFrame frame)
    {
        var json = new StringBuilder((int)Math.Min(frame.Payload.Length + 2 + (frame.ItemCount * 3), 4096));
        json.Append('[');
        var first = true;
        foreach (var item in frame.GetItems())
        {
            if (!first)
            {
                json.Append(',');
            }
            first = false;
            json.Append(JsonString.FromUtf8(item));
        }
        return json.Append(']').ToString();
    }
}
