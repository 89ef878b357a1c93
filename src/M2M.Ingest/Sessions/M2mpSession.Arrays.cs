using System.Buffers;
using System.Text;
using M2M.Ingest.M2mp;
using M2M.Ingest.Values;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal sealed partial class M2mpSession
{
    /// <summary>
    /// An array frame: the reserved channels <c>_set</c>, <c>_sta</c>, <c>_cmd</c>; <c>sen:*</c>
    /// (<c>[u32 time, value]</c>); any other channel stored as the JSON array of its items as strings.
    /// </summary>
    private async ValueTask OnArrayAsync(string channel, M2mpFrame frame)
    {
        switch (channel)
        {
            case SettingsChannel:
                await OnSettingsAsync(Texts(frame));
                return;
            case StatusChannel:
                await OnStatusAsync(Texts(frame));
                return;
            case CommandsChannel:
                await OnCommandAsync(Texts(frame));
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
            await PublishRecordAsync(channel, DeviceTime(seconds), JsonString.FromUtf8(items.Current));
            return;
        }

        await PublishRecordAsync(channel, null, JsonArray(frame));
    }

    /// <summary>
    /// <c>_set</c>: <c>["ga"]</c> → every setting as <c>["sg", …]</c>; <c>["u", names…]</c> → unknown to
    /// the device: deleted; <c>["g…", "name=value"…]</c> → acknowledged or reported values.
    /// </summary>
    private async ValueTask OnSettingsAsync(string[] items)
    {
        if (items.Length == 0)
        {
            CountError("empty_settings_array");
            return;
        }
        var verb = items[0];
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
                await DeleteSettingAsync(name);
            }
            return;
        }
        if (verb.Contains('g', StringComparison.Ordinal))
        {
            foreach (var item in items.Skip(1))
            {
                if (TrySplitSetting(item, out var name, out var value))
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

    /// <summary><c>_sta ["g…", "name=value"…]</c>: the device's status values.</summary>
    private async ValueTask OnStatusAsync(string[] items)
    {
        if (items.Length == 0 || !items[0].Contains('g', StringComparison.Ordinal))
        {
            CountError("unknown_status_verb");
            return;
        }
        foreach (var item in items.Skip(1))
        {
            if (TrySplitSetting(item, out var name, out var value))
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
        await AckCommandAsync(items[1], response);
    }

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
