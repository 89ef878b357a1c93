using M2M.Storage.Entities;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    private readonly HashSet<string> _sentCommands = new(StringComparer.Ordinal);
    private int _commandsPushQueued;

    /// <summary>Writes one pending command (M2MP: <c>_cmd ["e", id, lines…]</c>; ALIP: <c>C &lt;n&gt; &lt;text&gt;</c>).</summary>
    protected abstract void WriteCommand(DeviceCommand command);

    /// <summary>
    /// Sends the device's pending commands, oldest first, and marks them sent once they are on their
    /// way. With <paramref name="again"/> unset, commands already sent on this connection are not
    /// repeated (a push only adds the new ones); at identification and on a device's request they all are.
    /// </summary>
    protected async ValueTask PushCommandsAsync(bool again = false)
    {
        var pending = await Services.Devices.GetPendingCommandsAsync(DeviceId, Closing);
        List<DeviceCommand>? sent = null;
        foreach (var command in pending)
        {
            if (!again && _sentCommands.Contains(command.Id))
            {
                continue;
            }
            WriteCommand(command);
            CountOut();
            (sent ??= []).Add(command);
        }
        if (sent is null)
        {
            return;
        }
        if (!await FlushOutputAsync())
        {
            return;
        }
        foreach (var command in sent)
        {
            _sentCommands.Add(command.Id);
            if (command.State == CommandState.Pending)
            {
                await Services.Devices.MarkCommandSentAsync(DeviceId, command.Id, Closing);
            }
        }
        Logger.LogDebug("Sent {Count} commands", sent.Count);
    }

    /// <summary>The device acknowledges command <paramref name="commandId"/>, optionally with a response.</summary>
    protected async ValueTask<bool> AckCommandAsync(string commandId, string? response)
    {
        var acked = await Services.Devices.AckCommandAsync(DeviceId, commandId, response, Closing);
        _sentCommands.Remove(commandId);
        if (!acked)
        {
            Logger.LogInformation("Acknowledgement of unknown or finished command {CommandId}", commandId);
        }
        return acked;
    }
}
