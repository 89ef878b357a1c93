using M2M.Messaging;
using M2M.Storage.Entities;
using Microsoft.Extensions.Logging;

namespace M2M.Ingest.Sessions;

internal abstract partial class DeviceSession
{
    // Created with the first command sent: most connections never get one.
    private HashSet<string>? _sentCommands;

    /// <summary>Writes one pending command (M2MP: <c>_cmd ["e", id, lines…]</c>; ALIP: <c>C &lt;n&gt; &lt;text&gt;</c>).</summary>
    protected abstract void WriteCommand(DeviceCommand command);

    /// <summary>Why the protocol cannot carry <paramref name="command"/>, or <c>null</c> when it can.</summary>
    protected virtual string? CannotCarry(DeviceCommand command) => null;

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
            if (!again && _sentCommands is not null && _sentCommands.Contains(command.Id))
            {
                continue;
            }
            if (CannotCarry(command) is { } reason)
            {
                await FailCommandAsync(command, reason);
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
            (_sentCommands ??= new(StringComparer.Ordinal)).Add(command.Id);
            if (command.State == CommandState.Pending)
            {
                await Services.Devices.MarkCommandSentAsync(DeviceId, command, Closing);
            }
        }
        Logger.LogDebug("Sent {Count} commands", sent.Count);
    }

    /// <summary>Marks a command the device cannot receive as failed (never sent), with an event.</summary>
    private async ValueTask FailCommandAsync(DeviceCommand command, string reason)
    {
        if (await Services.Devices.FailCommandAsync(DeviceId, command.Id, reason, Closing))
        {
            Logger.LogInformation("Command {CommandId} failed: {Reason}", command.Id, reason);
            await PublishEventAsync(NewEvent(Calls.CommandFailed).With("command_id", command.Id).With("reason", reason));
        }
    }

    /// <summary>The device acknowledges command <paramref name="commandId"/>, optionally with a response.</summary>
    protected async ValueTask<bool> AckCommandAsync(string commandId, string? response)
    {
        var acked = await Services.Devices.AckCommandAsync(DeviceId, commandId, response, Closing);
        _sentCommands?.Remove(commandId);
        if (acked)
        {
            await PublishEventAsync(NewEvent(Calls.CommandAcknowledged).With("command_id", commandId).With("response", response));
        }
        else
        {
            Logger.LogInformation("Acknowledgement of unknown or finished command {CommandId}", commandId);
        }
        return acked;
    }
}
