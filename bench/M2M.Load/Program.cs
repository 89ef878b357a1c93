using System.Net.Sockets;
using M2M.Load.Cli;
using M2M.Load.Runs;
using M2M.Load.Simulation;

var parsed = CommandLine.Parse(args);
if (parsed.Help)
{
    Console.WriteLine(CommandLine.Help(parsed.HelpCommand));
    return 0;
}
if (parsed.Options is not { } o)
{
    await Console.Error.WriteLineAsync($"m2m-load: {parsed.Error}");
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

// With --json, stdout carries the result only; progress and messages go to stderr.
var progress = o.Json ? Console.Error : Console.Out;
try
{
    if (o.Command == LoadCommand.RocksBaseline)
    {
        var baseline = RocksBaseline.Run(o, progress, cancel.Token);
        Console.WriteLine(o.Json ? Report.Json(baseline) : Report.Text(baseline));
        return 0;
    }

    var server = await Fleet.ResolveAsync(o.Host, cancel.Token);
    var pid = Fleet.FindServer(o, server);
    if (!o.Json)
    {
        await progress.WriteLineAsync($"m2m-load {CommandLine.CommandName(o.Command)}: server {server} (M2MP {o.M2mpPort}, ALIP {o.AlipPort}){(pid is { } p ? $", server process {p}" : ", server process not found (no memory figures)")}");
    }

    var result = o.Command switch
    {
        LoadCommand.Simulate => await DeviceRun.RunAsync(o, o.ReplayFile is null ? DeviceMode.Periodic : DeviceMode.Replay, server, pid, o.IdentOffset, progress, cancel.Token),
        LoadCommand.Load => await DeviceRun.RunAsync(o, DeviceMode.Flat, server, pid, o.IdentOffset, progress, cancel.Token),
        LoadCommand.Flood => await FloodRun.RunAsync(o, server, pid, progress, cancel.Token),
        LoadCommand.Commands => await CommandRun.RunAsync(o, server, pid, progress, cancel.Token),
        _ => await ConnectionsRun.RunAsync(o, server, pid, progress, cancel.Token),
    };
    Console.WriteLine(o.Json ? Report.Json(result) : Report.Text(result));

    var ok = o.Command switch
    {
        LoadCommand.Connections => (result["identified"]?.GetValue<long>() ?? 0) > 0,
        LoadCommand.Flood => (result["open"]?.GetValue<int>() ?? 0) > 0,
        LoadCommand.Commands => CommandRun.Succeeded(result),
        _ => DeviceRun.Succeeded(result, expectData: o.Command == LoadCommand.Load),
    };
    if (!ok)
    {
        await Console.Error.WriteLineAsync($"m2m-load: the run failed: {result["errors"]?["last"]?.GetValue<string>() ?? "no device was identified"}");
    }
    return ok ? 0 : 1;
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"m2m-load: {e.Message}");
    return 2;
}
catch (FormatException e)
{
    await Console.Error.WriteLineAsync($"m2m-load: {o.ReplayFile}: {e.Message}");
    return 2;
}
catch (IOException e)
{
    await Console.Error.WriteLineAsync($"m2m-load: {e.Message}");
    return 1;
}
catch (SocketException e)
{
    await Console.Error.WriteLineAsync($"m2m-load: {e.Message}");
    return 1;
}
