using System.Net.Sockets;
using System.Text;
using M2M.Storage.Entities;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>
/// Replays every example session of <c>docs/protocols/alip.md</c> and <c>docs/protocols/m2mp.md</c>
/// against a fresh server, so that the documentation says what the server does.
/// </summary>
/// <remarks>
/// A session is a fenced block <c>```alip-session</c> or <c>```m2mp-session</c>: <c>&gt;</c> lines are
/// sent, <c>&lt;</c> lines expected (ALIP: a line, <c>…</c> at its end matching any rest; M2MP: hex,
/// <c>#</c> starting a comment), <c>&lt; (closed)</c> expects the server to close, <c>#</c> lines are
/// comments. An HTML comment <c>&lt;!-- replay-setup … --&gt;</c> before the block prepares the device
/// (<c>setting n=v</c>, <c>command text [as sample-id]</c>, <c>firmware name content</c>); one
/// <c>&lt;!-- replay-check … --&gt;</c> lists what must hold afterwards (<c>record type data</c>,
/// <c>setting n=v</c>, <c>command text acknowledged [response]</c>, <c>status n=v</c>, <c>sensor name</c>).
/// </remarks>
public sealed class DocumentedSessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public sealed record Session(string Doc, int Index, string Kind, List<string> Lines, List<string> Setup, List<string> Checks)
    {
        public override string ToString() => $"{Doc} #{Index + 1}";
    }

    public static TheoryData<string, int> Sessions
    {
        get
        {
            var data = new TheoryData<string, int>();
            foreach (var doc in new[] { "alip.md", "m2mp.md" })
            {
                foreach (var session in Parse(doc))
                {
                    data.Add(doc, session.Index);
                }
            }
            return data;
        }
    }

    [Fact]
    public void Each_protocol_document_has_example_sessions()
    {
        Assert.True(Parse("alip.md").Count >= 2);
        Assert.True(Parse("m2mp.md").Count >= 2);
    }

    [Theory]
    [MemberData(nameof(Sessions))]
    public async Task A_documented_session_is_what_the_server_does(string doc, int index)
    {
        var session = Parse(doc)[index];
        await using var server = await DeviceServer.StartAsync();
        var ident = session.Kind == "alip" ? AlipIdent(session) : M2mpIdent(session);
        var samples = await SetUpAsync(server, ident, session.Setup);

        if (session.Kind == "alip")
        {
            await ReplayAlipAsync(server, session);
        }
        else
        {
            await ReplayM2mpAsync(server, session, samples);
        }

        await CheckAsync(server, ident, session.Checks);
    }

    [Fact]
    public async Task The_README_nc_example_gets_the_answers_the_README_names()
    {
        var readme = File.ReadAllText(Path.Combine(FindRepository(), "README.md"));
        var input = System.Text.RegularExpressions.Regex.Match(readme, @"printf '([^']*)' \| nc -q1 localhost 3050").Groups[1].Value;
        Assert.NotEmpty(input);
        Assert.Contains("answers `ID 1`", readme, StringComparison.Ordinal);
        Assert.Contains("`S GA`", readme, StringComparison.Ordinal);
        Assert.Contains("`B 1`", readme, StringComparison.Ordinal);

        await using var server = await DeviceServer.StartAsync();
        await using var device = await server.ConnectAlipAsync();
        await device.SendRawAsync(Encoding.ASCII.GetBytes(input.Replace("\\n", "\n", StringComparison.Ordinal)));
        Assert.Equal(["ID 1", "S GA", "B 1"], [await device.ReadLineAsync(), await device.ReadLineAsync(), await device.ReadLineAsync()]);
        var id = (await server.DeviceAsync("imei:35412345678")).Id;
        Assert.Single(await server.RecordsAsync(id, "sen:loc"));
    }

    private static async Task<Dictionary<string, string>> SetUpAsync(DeviceServer server, string ident, List<string> setup)
    {
        var samples = new Dictionary<string, string>(StringComparer.Ordinal);
        if (setup.Count == 0)
        {
            return samples;
        }
        var id = (await server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
        foreach (var line in setup)
        {
            var (verb, rest) = Split(line);
            switch (verb)
            {
                case "setting":
                    var eq = rest.IndexOf('=', StringComparison.Ordinal);
                    await server.Devices.SetSettingAsync(id, rest[..eq], rest[(eq + 1)..], Ct);
                    break;
                case "command":
                    var at = rest.IndexOf(" as ", StringComparison.Ordinal);
                    var commandId = await server.Devices.AddCommandAsync(id, Unescape(at < 0 ? rest : rest[..at]), cancellationToken: Ct);
                    if (at >= 0)
                    {
                        var sample = rest[(at + 4)..];
                        Assert.Equal(sample.Length, commandId.Length);
                        samples[sample] = commandId;
                    }
                    break;
                case "firmware":
                    var (name, content) = Split(rest);
                    await server.Firmware.StoreAsync(name, new MemoryStream(Encoding.UTF8.GetBytes(content)), cancellationToken: Ct);
                    // A firmware is readable by the domains it is given to (docs/device-authentication.md).
                    await server.Firmware.SetAccessAsync(name, new M2M.Storage.Files.FirmwareAccess(AllDomains: true, []), Ct);
                    break;
                default:
                    Assert.Fail($"Unknown setup line: {line}");
                    break;
            }
        }
        return samples;
    }

    private static async Task CheckAsync(DeviceServer server, string ident, List<string> checks)
    {
        var id = (await server.DeviceAsync(ident)).Id;
        foreach (var line in checks)
        {
            var (verb, rest) = Split(line);
            switch (verb)
            {
                case "record":
                    var (type, data) = Split(rest);
                    var records = await server.RecordsAsync(id);
                    Assert.True(records.Any(r => r.Type == type && r.Data == data), $"{line}: stored are {string.Join(", ", records.Select(r => $"{r.Type} {r.Data}"))}");
                    break;
                case "setting":
                    var eq = rest.IndexOf('=', StringComparison.Ordinal);
                    var setting = (await server.Devices.GetSettingsAsync(id, Ct)).SingleOrDefault(s => s.Name == rest[..eq]);
                    Assert.True(setting is { Pending: false } && setting.Value == rest[(eq + 1)..], $"{line}: got {setting}");
                    break;
                case "status":
                    var split = rest.IndexOf('=', StringComparison.Ordinal);
                    Assert.Equal(rest[(split + 1)..], (await server.Devices.GetStatusAsync(id, Ct)).GetValueOrDefault(rest[..split]));
                    break;
                case "command":
                    var marker = rest.IndexOf(" acknowledged", StringComparison.Ordinal);
                    var text = Unescape(rest[..marker]);
                    var response = rest[(marker + " acknowledged".Length)..].TrimStart();
                    var command = (await server.Devices.ListCommandsAsync(id, cancellationToken: Ct)).SingleOrDefault(c => c.Text == text);
                    Assert.True(command is { State: CommandState.Acknowledged } && (command.Response ?? "") == Unescape(response), $"{line}: got {command}");
                    break;
                case "sensor":
                    Assert.Contains(await server.Devices.GetListedSensorsAsync(id, Ct), s => s.Name == rest);
                    break;
                default:
                    Assert.Fail($"Unknown check line: {line}");
                    break;
            }
        }
    }

    private static async Task ReplayAlipAsync(DeviceServer server, Session session)
    {
        await using var device = await server.ConnectAlipAsync();
        foreach (var line in session.Lines)
        {
            if (line.StartsWith("> ", StringComparison.Ordinal))
            {
                await device.SendAsync(line[2..]);
            }
            else if (line.StartsWith("< ", StringComparison.Ordinal))
            {
                var expected = line[2..];
                var actual = await device.ReadLineAsync();
                if (expected == "(closed)")
                {
                    Assert.True(actual is null, $"{session}: expected the server to close, got \"{actual}\"");
                }
                else if (expected.EndsWith('…'))
                {
                    Assert.True(actual?.StartsWith(expected[..^1], StringComparison.Ordinal) == true, $"{session}: expected \"{expected}\", got \"{actual}\"");
                }
                else
                {
                    Assert.True(expected == actual, $"{session}: expected \"{expected}\", got \"{actual}\"");
                }
            }
        }
    }

    private static async Task ReplayM2mpAsync(DeviceServer server, Session session, Dictionary<string, string> samples)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, server.Endpoints.M2mp!.Port, Ct);
        var stream = client.GetStream();
        foreach (var line in session.Lines)
        {
            var direction = line[0];
            var text = line[2..];
            var comment = text.IndexOf('#', StringComparison.Ordinal);
            text = (comment < 0 ? text : text[..comment]).Trim();
            if (direction == '>')
            {
                await stream.WriteAsync(Substitute(Convert.FromHexString(text.Replace(" ", "", StringComparison.Ordinal)), samples), Ct);
            }
            else if (text == "(closed)")
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                int read;
                try
                {
                    read = await stream.ReadAsync(new byte[1], timeout.Token);
                }
                catch (IOException)
                {
                    read = 0;
                }
                Assert.True(read == 0, $"{session}: expected the server to close");
            }
            else
            {
                var expected = Substitute(Convert.FromHexString(text.Replace(" ", "", StringComparison.Ordinal)), samples);
                var actual = new byte[expected.Length];
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                await stream.ReadExactlyAsync(actual, timeout.Token);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{session}: expected {Convert.ToHexString(expected)}, got {Convert.ToHexString(actual)}");
            }
        }
    }

    /// <summary>Replaces the sample ids of the document by the real ones (same length, so SIZE fields stay right).</summary>
    private static byte[] Substitute(byte[] bytes, Dictionary<string, string> samples)
    {
        foreach (var (sample, real) in samples)
        {
            var from = Encoding.ASCII.GetBytes(sample);
            var to = Encoding.ASCII.GetBytes(real);
            int at;
            while ((at = bytes.AsSpan().IndexOf(from)) >= 0)
            {
                to.CopyTo(bytes, at);
            }
        }
        return bytes;
    }

    private static string AlipIdent(Session session) =>
        session.Lines.First(l => l.StartsWith("> ID ", StringComparison.Ordinal))[5..];

    private static string M2mpIdent(Session session)
    {
        foreach (var line in session.Lines.Where(l => l.StartsWith('>')))
        {
            var text = line[2..];
            var hex = (text.IndexOf('#', StringComparison.Ordinal) is var c and >= 0 ? text[..c] : text).Replace(" ", "", StringComparison.Ordinal);
            var bytes = Convert.FromHexString(hex);
            if (bytes[0] == 0x01)
            {
                return Encoding.ASCII.GetString(bytes, 2, bytes[1]);
            }
        }
        throw new InvalidOperationException("No identification frame.");
    }

    private static (string Head, string Tail) Split(string text)
    {
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (text, "") : (text[..space], text[(space + 1)..]);
    }

    private static string Unescape(string text) => text.Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\t", "\t", StringComparison.Ordinal);

    private static string FindDoc(string name) => Path.Combine(FindRepository(), "docs", "protocols", name);

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "M2M.Aspire.sln")))
            {
                return dir.FullName;
            }
        }
        throw new FileNotFoundException($"The repository (M2M.Aspire.sln) was not found above {AppContext.BaseDirectory}.");
    }

    /// <summary>The sessions of a document, with the setup and checks in the HTML comments before each.</summary>
    private static List<Session> Parse(string doc)
    {
        var sessions = new List<Session>();
        var lines = File.ReadAllLines(FindDoc(doc));
        List<string> setup = [], checks = [];
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith("<!-- replay-", StringComparison.Ordinal))
            {
                var target = line.StartsWith("<!-- replay-setup", StringComparison.Ordinal) ? setup : checks;
                while (!lines[++i].StartsWith("-->", StringComparison.Ordinal))
                {
                    target.Add(lines[i]);
                }
                continue;
            }
            if (line is "```alip-session" or "```m2mp-session")
            {
                var body = new List<string>();
                while (lines[++i] != "```")
                {
                    var text = lines[i].TrimStart();
                    if (text.StartsWith("> ", StringComparison.Ordinal) || text.StartsWith("< ", StringComparison.Ordinal))
                    {
                        body.Add(text);
                    }
                }
                sessions.Add(new Session(doc, sessions.Count, line[3..7], body, setup, checks));
                setup = [];
                checks = [];
            }
        }
        return sessions;
    }
}
