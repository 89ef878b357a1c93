using System.Text;
using M2M.Ingest.Values;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions;

internal sealed partial class AlipSession
{
    // Per-connection command numbers: the device echoes the small number in "C A <n>".
    // Created with the first command sent (most connections never get one).
    private Dictionary<long, string>? _commandIds;
    private Dictionary<string, long>? _commandNumbers;
    private long _nextCommandNumber;

    /// <summary>
    /// <code>
    /// S-content = "A" SP name SP value / "S" SP name SP value   ; acknowledged / reported value
    ///           / "GA" / "G" [ SP name ] / "U" SP name
    /// </code>
    /// Names and values follow the registry's rules (<see cref="DeviceValues"/>); a value is the rest
    /// of the line and may not be empty (the platform never sets an empty value).
    /// </summary>
    private async ValueTask OnSettingsAsync(ReadOnlyMemory<byte> content)
    {
        var rest = content;
        TryTakeToken(ref rest, out var verb);
        var v = verb.Span;
        if (v.SequenceEqual("A"u8) || v.SequenceEqual("S"u8))
        {
            if (!TryTakeToken(ref rest, out var nameToken) || nameToken.IsEmpty)
            {
                Missing("setting name");
                return;
            }
            if (rest.IsEmpty)
            {
                Missing("setting value");
                return;
            }
            if (SettingName(nameToken) is not { } name)
            {
                return;
            }
            var value = Encoding.UTF8.GetString(rest.Span);
            if (!DeviceValues.IsValidSettingValue(value))
            {
                Refuse(ValueError.InvalidSettingValue);
                return;
            }
            await AckSettingAsync(name, value);
        }
        else if (v.SequenceEqual("GA"u8))
        {
            WriteSettingsToSet(await GetAllSettingsAsync());
        }
        else if (v.SequenceEqual("G"u8))
        {
            if (rest.IsEmpty)
            {
                var toSend = await Services.Devices.GetSettingsToSendAsync(DeviceId, Closing);
                foreach (var (name, value) in toSend.OrderBy(s => s.Key, StringComparer.Ordinal))
                {
                    WriteSetting(name, value);
                }
                return;
            }
            var wanted = Encoding.UTF8.GetString(rest.Span);
            var setting = (await Services.Devices.GetSettingsAsync(DeviceId, Closing)).FirstOrDefault(s => s.Name == wanted);
            if (setting is null)
            {
                CountError("unknown_setting");
                Error("Unknown setting");
                return;
            }
            WriteSetting(setting.Name, setting.Value);
        }
        else if (v.SequenceEqual("U"u8))
        {
            if (rest.IsEmpty)
            {
                Missing("setting name");
                return;
            }
            if (SettingName(rest) is { } name)
            {
                await DeleteSettingAsync(name);
            }
        }
        else
        {
            InvalidSettings();
        }
    }

    /// <summary>The setting name in <paramref name="token"/>, or <c>null</c> after answering <c>ERR Invalid setting name</c>.</summary>
    private string? SettingName(ReadOnlyMemory<byte> token)
    {
        // A valid name has at most 256 characters, so at most 1024 UTF-8 bytes: longer ones are not decoded.
        var name = token.Length <= DeviceValues.MaxSettingNameLength * 4 ? Encoding.UTF8.GetString(token.Span) : null;
        if (name is null || !DeviceValues.IsValidSettingName(name))
        {
            Refuse(ValueError.InvalidSettingName);
            return null;
        }
        return name;
    }

    private void InvalidSettings()
    {
        CountError("invalid_settings_command");
        Error("Invalid settings command");
    }

    /// <summary>
    /// <code>
    /// C-content = "A" SP n      ; the device acknowledges command n
    ///           / "L"           ; send the pending commands again
    /// </code>
    /// </summary>
    private async ValueTask OnCommandsAsync(ReadOnlyMemory<byte> content)
    {
        var rest = content;
        TryTakeToken(ref rest, out var verb);
        if (verb.Span.SequenceEqual("A"u8))
        {
            if (!TryTakeToken(ref rest, out var token) || token.IsEmpty)
            {
                Missing("number");
                return;
            }
            if (!TryParseNonNegative(token.Span, out var n))
            {
                Refuse(ValueError.InvalidNumber);
                return;
            }
            if (_commandIds is null || !_commandIds.TryGetValue(n, out var commandId))
            {
                CountError("unknown_command_number");
                Error("Unknown command");
                return;
            }
            await AckCommandAsync(commandId, rest.IsEmpty ? null : Encoding.UTF8.GetString(rest.Span));
            _commandIds.Remove(n);
            _commandNumbers?.Remove(commandId);
        }
        else if (verb.Span.SequenceEqual("L"u8) && rest.IsEmpty)
        {
            await PushCommandsAsync(again: true);
        }
        else
        {
            CountError("invalid_commands_command");
            Error("Invalid commands command");
        }
    }

    /// <summary>An ALIP command is one line: a command with a line break cannot be sent (it is marked failed).</summary>
    protected override string? CannotCarry(DeviceCommand command) =>
        command.Text.AsSpan().IndexOfAny('\r', '\n') >= 0
            ? "The command has several lines and ALIP sends a command as one line."
            : null;

    /// <summary><c>C &lt;n&gt; &lt;text&gt;</c>.</summary>
    protected override void WriteCommand(DeviceCommand command)
    {
        _commandNumbers ??= new(StringComparer.Ordinal);
        if (!_commandNumbers.TryGetValue(command.Id, out var n))
        {
            n = ++_nextCommandNumber;
            _commandNumbers[command.Id] = n;
            (_commandIds ??= [])[n] = command.Id;
        }
        Alip.AlipWriter.WriteCommand(Output, n, command.Text);
    }
}
