using System.Buffers;
using System.Text;
using M2M.Ingest.Connections;
using M2M.Ingest.M2mp;
using M2M.Ingest.Values;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

/// <summary>An M2MP device session (spec/m2mp.md, "Session behaviour").</summary>
internal sealed partial class M2mpSession : DeviceSession
{
    private const string SettingsChannel = "_set";
    private const string StatusChannel = "_sta";
    private const string CommandsChannel = "_cmd";
    private const string SpecialChannel = "_special";

    private readonly M2mpReader _reader;
    private readonly M2mpReceiveChannels _receive = new();
    private readonly M2mpSendChannels _send = new();

    // Channel ids (bits 0–255) whose current definition is not a usable name.
    private readonly ulong[] _invalidChannels = new ulong[4];

    public M2mpSession(ConnectionContext connection, SessionServices services)
        : base(connection, services, DeviceProtocol.M2mp)
    {
        _reader = new M2mpReader(M2mpSender.Device, services.Options.MaxFrameSize);
    }

    protected override async ValueTask<SequencePosition> ProcessAsync(ReadOnlySequence<byte> buffer)
    {
        var consumed = buffer.Start;
        while (!IsClosing)
        {
            var examined = buffer.End;
            M2mpFrame frame;
            try
            {
                if (!_reader.TryParseMessage(buffer.Slice(consumed), ref consumed, ref examined, out frame))
                {
                    break;
                }
            }
            catch (M2mpProtocolException e)
            {
                await FailAsync(ErrorKind(e.Error), e.Message);
                return buffer.End;
            }
            CountIn();
            try
            {
                await HandleFrameAsync(frame);
            }
            catch (ArgumentException e)
            {
                // Bad values are dropped and counted, never a reason to close: a store rule the
                // session does not check itself ends up here.
                Logger.LogWarning(e, "Device input refused by a store check the session does not make itself; dropped");
                CountError("invalid_input");
            }
            await FlushIfLargeAsync();
        }
        if (Output.UnflushedBytes > 0)
        {
            await FlushOutputAsync();
        }
        return consumed;
    }

    private async ValueTask HandleFrameAsync(M2mpFrame frame)
    {
        switch (frame.Kind)
        {
            case M2mpFrameKind.Identification:
                await OnIdentificationAsync(frame.Payload);
                break;
            case M2mpFrameKind.DevicePing:
                // The device's delivery barrier: answered only once everything it sent before is durable.
                if (await BarrierAsync())
                {
                    M2mpWriter.WriteDevicePing(Output, frame.Value);
                    CountOut();
                    await FlushOutputAsync();
                }
                break;
            case M2mpFrameKind.ServerPing:
                // The device's answer to our ping: its arrival already counts as activity.
                break;
            case M2mpFrameKind.ChannelDefinition:
                DefineChannel(frame);
                break;
            case M2mpFrameKind.Data or M2mpFrameKind.Array when IsIdentified && IsInvalidChannel(frame.Channel):
                CountError("invalid_channel_name");
                break;
            case M2mpFrameKind.Data when IsIdentified:
                await OnDataAsync(_receive.GetName(frame.Channel), frame.Payload);
                break;
            case M2mpFrameKind.Array when IsIdentified:
                await OnArrayAsync(_receive.GetName(frame.Channel), frame);
                break;
            case M2mpFrameKind.Data or M2mpFrameKind.Array:
                IngestMetrics.DroppedBeforeIdentification.Add(1, ProtocolTag);
                CountError("data_before_identification");
                break;
            case M2mpFrameKind.Skipped:
                CountError("unknown_frame_skipped");
                break;
            default:
                await FailAsync("unexpected_frame", $"Frame type 0x{frame.Type:x2} is not sent by devices.");
                break;
        }
    }

    /// <summary>
    /// <code>
    /// identification = %x01 LEN ident [ SP secret ]   ; LEN counts ident, SP and secret (≤ 255)
    /// </code>
    /// The secret (docs/device-authentication.md) is optional: an ident never holds a space.
    /// </summary>
    private async ValueTask OnIdentificationAsync(ReadOnlySequence<byte> payload)
    {
        Span<byte> scratch = stackalloc byte[256];
        var all = payload.AsSpan(scratch);
        var space = all.IndexOf((byte)' ');
        var bytes = space < 0 ? all : all[..space];
        // Not "? null :": null would convert to an empty secret through the array conversion.
        ReadOnlyMemory<byte>? secret = space < 0 ? default(ReadOnlyMemory<byte>?) : all[(space + 1)..].ToArray();
        if (!Identification.IsValidM2mp(bytes) || (secret is { } s && !DeviceSecrets.IsWellFormed(s.Span)))
        {
            CountError("invalid_identification");
            M2mpWriter.WriteIdentificationResult(Output, accepted: false);
            CountOut();
            return;
        }
        var ident = Encoding.ASCII.GetString(bytes);
        if (IsIdentified)
        {
            // A repeated identification: the same device is still accepted, another one is not.
            M2mpWriter.WriteIdentificationResult(Output, accepted: ident == Ident);
            CountOut();
            return;
        }

        var result = await IdentifyAsync(ident, secret);
        M2mpWriter.WriteIdentificationResult(Output, result == IdentifyResult.Accepted);
        CountOut();
        if (result != IdentifyResult.Accepted)
        {
            return;
        }

        // Then, in this order: pending settings, pending commands, the capabilities request, "get all settings".
        await PushSettingsAsync();
        await PushCommandsAsync(again: true);
        if (!await Services.Devices.HasStatusAsync(DeviceId, "cap", Closing))
        {
            WriteArray(StatusChannel, ["g", "cap"]);
        }
        if (!await Services.Devices.HasAnySettingsAsync(DeviceId, Closing))
        {
            WriteArray(SettingsChannel, ["ga"]);
        }
        await FlushOutputAsync();
    }

    /// <summary>
    /// Applies a channel definition. A name that is empty, not UTF-8 or holds a control character
    /// cannot be a record type nor be echoed unchanged: the id is remembered as invalid, and data on
    /// it is dropped and counted until it is redefined.
    /// </summary>
    private void DefineChannel(in M2mpFrame frame)
    {
        Span<byte> scratch = stackalloc byte[256];
        var name = frame.Payload.AsSpan(scratch);
        var bit = 1UL << (frame.Channel & 63);
        if (name.IsEmpty || !DeviceText.IsPrintableUtf8(name))
        {
            _invalidChannels[frame.Channel >> 6] |= bit;
            CountError("invalid_channel_name");
            return;
        }
        _invalidChannels[frame.Channel >> 6] &= ~bit;
        _receive.Define(frame);
    }

    /// <summary>
    /// Whether data on <paramref name="channel"/> may be stored under its name: a valid record type
    /// (<see cref="DeviceText.IsValidRecordType"/>: not the platform's <c>_…</c> types), or the name of
    /// a channel id the device never defined (<c>__channel_&lt;id&gt;</c>).
    /// </summary>
    private static bool IsRecordChannel(string channel) =>
        DeviceText.IsValidRecordType(channel) || channel.StartsWith("__channel_", StringComparison.Ordinal);

    private bool IsInvalidChannel(byte id) => (_invalidChannels[id >> 6] & (1UL << (id & 63))) != 0;

    /// <summary>
    /// A data frame: <c>echo</c>/<c>echo:*</c> sent back, <c>_special</c> commands, a translated
    /// channel to its converter, <c>sen:loc</c> decoded, anything else stored as a JSON string.
    /// Other channels starting with <c>_</c> are the platform's: dropped and counted.
    /// </summary>
    private async ValueTask OnDataAsync(string channel, ReadOnlySequence<byte> payload)
    {
        if (channel == "echo" || channel.StartsWith("echo:", StringComparison.Ordinal))
        {
            WriteEcho(channel, payload);
            return;
        }
        if (channel == SpecialChannel)
        {
            await OnSpecialAsync(payload);
            return;
        }
        if (!IsRecordChannel(channel))
        {
            CountError(channel.StartsWith('_') ? "reserved_channel" : "invalid_type");
            return;
        }

        if (await GetTranslationAsync(channel) is { } topic)
        {
            await PublishToConverterAsync(topic, channel, null, JsonString.FromUtf8(payload), payload);
            return;
        }

        if (channel == "sen:loc")
        {
            var error = Location.TryDecodeM2mp(payload, out var location);
            if (error != ValueError.None)
            {
                CountError("invalid_location");
                Logger.LogInformation("Dropped sen:loc: {Reason}", ValueErrors.Reason(error));
                return;
            }
            await PublishRecordAsync(channel, location.Time is { } t ? DeviceTime(t) : null, location.ToJson());
            return;
        }

        await PublishTextAsync(channel, null, JsonString.FromUtf8(payload));
    }

    /// <summary>Stores a record whose JSON was built from device bytes, unless it is larger than a record may be (dropped and counted).</summary>
    private async ValueTask PublishTextAsync(string channel, DateTimeOffset? time, string data)
    {
        if (!DeviceText.FitsRecord(data))
        {
            CountError("record_too_large");
            Logger.LogInformation("Dropped a {Channel} record: its JSON is larger than a record may be", channel);
            return;
        }
        await PublishRecordAsync(channel, time, data);
    }

    private async ValueTask OnSpecialAsync(ReadOnlySequence<byte> payload)
    {
        Span<byte> scratch = stackalloc byte[16];
        if (payload.Length > scratch.Length)
        {
            CountError("unknown_special");
            return;
        }
        var text = payload.AsSpan(scratch);
        if (text.SequenceEqual("disconnect_me"u8))
        {
            Logger.LogInformation("The device asks to be disconnected");
            await CloseAsync("disconnect_me", goodbye: false);
        }
        else if (text.SequenceEqual("disconnect_us"u8))
        {
            Logger.LogInformation("The device asks to disconnect all its connections");
            await DisconnectDeviceEverywhereAsync("disconnect_us");
        }
        else
        {
            CountError("unknown_special");
        }
    }

    private void WriteEcho(string channel, ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            _send.WriteData(Output, channel, payload.FirstSpan);
        }
        else
        {
            var rented = ArrayPool<byte>.Shared.Rent((int)payload.Length);
            try
            {
                payload.CopyTo(rented);
                _send.WriteData(Output, channel, rented.AsSpan(0, (int)payload.Length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        CountOut();
    }

    private void WriteArray(string channel, ReadOnlySpan<string> items)
    {
        _send.WriteArray(Output, channel, items);
        CountOut();
    }

    protected override void WriteSettingsToSet(IReadOnlyList<KeyValuePair<string, string>> settings)
    {
        var items = new string[settings.Count + 1];
        items[0] = "sg";
        for (var i = 0; i < settings.Count; i++)
        {
            items[i + 1] = $"{settings[i].Key}={settings[i].Value}";
        }
        WriteArray(SettingsChannel, items);
    }

    protected override void WriteCommand(DeviceCommand command)
    {
        var lines = command.Text.Split('\n');
        var items = new string[lines.Length + 2];
        items[0] = "e";
        items[1] = command.Id;
        lines.CopyTo(items, 2);
        WriteArray(CommandsChannel, items);
    }

    protected override void WritePing(long n) => M2mpWriter.WriteServerPing(Output, (byte)n);

    protected override void WriteGoodbye(string reason)
    {
        // M2MP has no goodbye frame: the connection is simply closed.
    }

    private static string ErrorKind(M2mpError error) => error switch
    {
        M2mpError.FrameTooLarge => "frame_too_large",
        M2mpError.UnknownFrameType => "unknown_frame_type",
        M2mpError.InvalidSize => "invalid_size",
        M2mpError.ArrayItemOutOfBounds => "array_item_out_of_bounds",
        _ => "protocol",
    };
}
