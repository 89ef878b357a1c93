using System.Buffers;
using System.Buffers.Text;
using System.Text;
using M2M.Ingest.Alip;
using M2M.Ingest.Connections;
using M2M.Ingest.Values;
using M2M.Storage.Entities;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

/// <summary>An ALIP device session (spec/alip.md): one line in, zero or more lines out.</summary>
internal sealed partial class AlipSession : DeviceSession
{
    private readonly AlipLineReader _reader;

    // The current line, copied out of the pipe so that its handling may await (one copy, no allocation).
    private readonly byte[] _line;

    public AlipSession(ConnectionContext connection, SessionServices services)
        : base(connection, services, DeviceProtocol.Alip)
    {
        _reader = new AlipLineReader(services.Options.MaxLineLength);
        _line = new byte[services.Options.MaxLineLength];
    }

    protected override async ValueTask<SequencePosition> ProcessAsync(ReadOnlySequence<byte> buffer)
    {
        var consumed = buffer.Start;
        while (!IsClosing)
        {
            if (!TryReadLine(buffer.Slice(consumed), ref consumed, out var length, out var tooLong))
            {
                break;
            }
            CountIn();
            if (tooLong)
            {
                // Refused and skipped up to its end by the reader: memory stays bounded.
                CountError("line_too_long");
                Reply(static (o, _) => AlipWriter.WriteError(o, "Line too long"), 0);
                continue;
            }
            if (length > 0)
            {
                await HandleCheckedLineAsync(_line.AsMemory(0, length));
            }
            await FlushIfLargeAsync();
        }
        if (Output.UnflushedBytes > 0)
        {
            await FlushOutputAsync();
        }
        return consumed;
    }

    private bool TryReadLine(ReadOnlySequence<byte> input, ref SequencePosition consumed, out int length, out bool tooLong)
    {
        var examined = input.End;
        if (!_reader.TryParseMessage(input, ref consumed, ref examined, out var line))
        {
            length = 0;
            tooLong = false;
            return false;
        }
        tooLong = line.Kind == AlipLineKind.LineTooLong;
        line.Text.CopyTo(_line);
        length = line.Text.Length;
        return true;
    }

    /// <summary>
    /// Refuses a line with a control character or invalid UTF-8 (<see cref="DeviceText.CheckLine"/>),
    /// then handles it. A validation error that a handler did not catch itself (a rule of a store
    /// that the session does not check first) is answered <c>ERR Invalid input</c>: bad input never
    /// ends the session.
    /// </summary>
    private async ValueTask HandleCheckedLineAsync(ReadOnlyMemory<byte> line)
    {
        var error = DeviceText.CheckLine(line.Span);
        if (error != ValueError.None)
        {
            Refuse(error);
            return;
        }
        try
        {
            await HandleLineAsync(line);
        }
        catch (ArgumentException e)
        {
            Logger.LogWarning(e, "Device input refused by a store check the session does not make itself");
            CountError("invalid_input");
            Error("Invalid input");
        }
    }

    /// <summary>
    /// <code>
    /// line = command [ SP content ]
    /// </code>
    /// Every command but <c>ID</c>, <c>T</c>, <c>QUIT</c> and <c>B</c> needs an identified device.
    /// </summary>
    private async ValueTask HandleLineAsync(ReadOnlyMemory<byte> line)
    {
        var space = line.Span.IndexOf((byte)' ');
        var keywordLength = space < 0 ? line.Length : space;
        var content = space < 0 ? ReadOnlyMemory<byte>.Empty : line[(space + 1)..];
        var command = AlipLine.Recognise(line.Span[..keywordLength]);
        if (command == AlipCommand.Db && !Options.Diagnostics)
        {
            command = AlipCommand.Unknown;
        }

        switch (command)
        {
            case AlipCommand.Unknown:
                CountError("unknown_command");
                WriteNotUnderstood(line[..keywordLength]);
                return;
            case AlipCommand.Id:
                await OnIdAsync(content);
                return;
            case AlipCommand.T:
                Reply(static (o, now) => AlipWriter.WriteTime(o, now), Services.Time.GetUtcNow().ToUnixTimeSeconds());
                return;
            case AlipCommand.Quit:
                Reply(static (o, _) => AlipWriter.WriteQuit(o, "bye"), 0);
                await FlushOutputAsync();
                await CloseAsync("quit", goodbye: false);
                return;
            case AlipCommand.B:
                // The device's answer to our ping: its arrival already counts as activity.
                if (content.IsEmpty)
                {
                    Missing("token");
                }
                return;
        }

        if (!IsIdentified)
        {
            CountError("not_identified");
            Error("You must be identified");
            return;
        }

        switch (command)
        {
            case AlipCommand.D:
                await OnRecordAsync(content, timed: false);
                break;
            case AlipCommand.E:
                await OnRecordAsync(content, timed: true);
                break;
            case AlipCommand.J:
                await OnJsonRecordAsync(content);
                break;
            case AlipCommand.A:
                await OnBarrierAsync(content);
                break;
            case AlipCommand.S:
                await OnSettingsAsync(content);
                break;
            case AlipCommand.C:
                await OnCommandsAsync(content);
                break;
            case AlipCommand.F:
                await OnFirmwareAsync(content);
                break;
            case AlipCommand.Db:
                await OnDiagnosticsAsync(content);
                break;
        }
    }

    /// <summary>
    /// <code>
    /// ID-content = ident [ SP secret ]    ; the secret: docs/device-authentication.md
    /// </code>
    /// <c>ID 1</c> then the pushes, <c>ID 0</c> (refused, also for a wrong or malformed secret), or an <c>ERR</c>.
    /// </summary>
    private async ValueTask OnIdAsync(ReadOnlyMemory<byte> content)
    {
        if (IsIdentified)
        {
            CountError("already_identified");
            Error("already identified");
            return;
        }
        var space = content.Span.IndexOf((byte)' ');
        var ident = space < 0 ? content : content[..space];
        ReadOnlyMemory<byte>? secret = space < 0 ? default(ReadOnlyMemory<byte>?) : content[(space + 1)..];
        // A malformed secret is a format error like a malformed ident; a wrong one is a refusal (ID 0).
        if (!Identification.IsValidAlip(ident.Span) || (secret is { } s && !DeviceSecrets.IsWellFormed(s.Span)))
        {
            CountError("invalid_identification");
            Error(ValueErrors.Reason(ValueError.InvalidIdentification));
            return;
        }

        var result = await IdentifyAsync(Encoding.ASCII.GetString(ident.Span), secret);
        if (result == IdentifyResult.Invalid)
        {
            Error(ValueErrors.Reason(ValueError.InvalidIdentification));
            return;
        }
        Reply(static (o, accepted) => AlipWriter.WriteIdResult(o, accepted == 1), result == IdentifyResult.Accepted ? 1 : 0);
        if (result != IdentifyResult.Accepted)
        {
            return;
        }

        // Then: the settings still to deliver, the pending commands, and "S GA" when no setting is known.
        await PushSettingsAsync();
        await PushCommandsAsync(again: true);
        if (!await Services.Devices.HasAnySettingsAsync(DeviceId, Closing))
        {
            Reply(static (o, _) => AlipWriter.WriteSettingsGetAll(o), 0);
        }
        await FlushOutputAsync();
    }

    /// <summary><c>A &lt;token&gt;</c>: answered <c>B &lt;token&gt;</c> once every record received before it is durable.</summary>
    private async ValueTask OnBarrierAsync(ReadOnlyMemory<byte> token)
    {
        if (token.IsEmpty)
        {
            Missing("token");
            return;
        }
        if (!await BarrierAsync())
        {
            return;
        }
        AlipWriter.WriteBarrierAnswer(Output, token.Span);
        CountOut();
        await FlushOutputAsync();
    }

    protected override void WriteSettingsToSet(IReadOnlyList<KeyValuePair<string, string>> settings)
    {
        foreach (var (name, value) in settings)
        {
            WriteSetting(name, value);
        }
    }

    private void WriteSetting(string name, string value)
    {
        AlipWriter.WriteSetting(Output, OneLine(name), OneLine(value));
        CountOut();
    }

    protected override void WritePing(long n) => AlipWriter.WritePing(Output, n);

    protected override void WriteGoodbye(string reason)
    {
        AlipWriter.WriteQuit(Output, reason);
        CountOut();
    }

    private void Error(string reason)
    {
        AlipWriter.WriteError(Output, reason);
        CountOut();
    }

    /// <summary>Counts and answers a refused value: <c>ERR &lt;reason&gt;</c>.</summary>
    private void Refuse(ValueError error)
    {
        CountError(ErrorKind(error));
        Error(ValueErrors.Reason(error));
    }

    /// <summary>A required field is absent or empty: <c>ERR Missing &lt;field&gt;</c>.</summary>
    private void Missing(string field)
    {
        CountError("missing_field");
        Error($"Missing {field}");
    }

    private static string ErrorKind(ValueError error) => error switch
    {
        ValueError.ControlCharacter => "control_character",
        ValueError.InvalidUtf8 => "invalid_utf8",
        ValueError.InvalidType => "invalid_type",
        ValueError.RecordTooLarge => "record_too_large",
        ValueError.InvalidSettingName => "invalid_setting_name",
        ValueError.InvalidSettingValue => "invalid_setting_value",
        ValueError.InvalidTime => "invalid_time",
        ValueError.InvalidNumber => "invalid_number",
        _ => "invalid_value",
    };

    private void WriteNotUnderstood(ReadOnlyMemory<byte> keyword)
    {
        AlipWriter.WriteCommandNotUnderstood(Output, keyword.Span);
        CountOut();
    }

    private void Reply(Action<IBufferWriter<byte>, long> write, long argument)
    {
        write(Output, argument);
        CountOut();
    }

    /// <summary>Text to put on one ALIP line: line breaks become spaces (a line cannot hold them).</summary>
    private static string OneLine(string text) =>
        text.AsSpan().IndexOfAny('\r', '\n') < 0 ? text : text.Replace("\r\n", " ", StringComparison.Ordinal).Replace('\n', ' ').Replace('\r', ' ');

    /// <summary>A non-negative integer token; <c>false</c> for anything else.</summary>
    private static bool TryParseNonNegative(ReadOnlySpan<byte> token, out long value) =>
        Utf8Parser.TryParse(token, out value, out var used) && used == token.Length && value >= 0 && token.Length > 0 && token[0] != (byte)'-' && token[0] != (byte)'+';
}
