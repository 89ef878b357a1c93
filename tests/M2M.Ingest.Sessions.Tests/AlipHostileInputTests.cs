using System.Text;
using M2M.Testing;

namespace M2M.Ingest.Sessions.Tests;

/// <summary>A server with the ALIP diagnostics on, so that <c>DB</c> is one more command to attack.</summary>
public sealed class DiagnosticsServer : IAsyncLifetime
{
    private DeviceServer? _server;

    public DeviceServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync() => _server = await DeviceServer.StartAsync("Diagnostics=true");

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>
/// Every ALIP command with hostile bytes in every field (issue 10, point 6): each line gets its
/// answer (an <c>ERR &lt;reason&gt;</c> or the command's normal answer), never <c>QUIT internal
/// error</c>, and the session still answers a barrier afterwards.
/// </summary>
public sealed class AlipHostileInputTests(DiagnosticsServer fixture) : IClassFixture<DiagnosticsServer>
{
    private const string ControlError = "ERR Control character in line";
    private const string Utf8Error = "ERR Invalid UTF-8";
    private const string LongLineError = "ERR Line too long";

    /// <summary>The longest line read before identification (the server's default).</summary>
    private static readonly int UnidentifiedLineLimit = new IngestOptions().MaxUnidentifiedMessageSize;

    private DeviceServer Server => fixture.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A hostile field value, as raw bytes.</summary>
    public sealed record Hostile(string Name, byte[] Bytes, string? LineError)
    {
        public string Text => Encoding.UTF8.GetString(Bytes);

        public bool IsEmpty => Bytes.Length == 0;

        public override string ToString() => Name;
    }

    private static Hostile Control(string name, string text) => new(name, Encoding.UTF8.GetBytes(text), ControlError);

    private static Hostile BadUtf8(string name, params byte[] bytes) => new(name, bytes, Utf8Error);

    private static Hostile Plain(string name, string text) => new(name, Encoding.UTF8.GetBytes(text), null);

    public static readonly Hostile[] Values =
    [
        Control("CR inside", "a\rb"),
        Control("NUL", "a\0b"),
        Control("SOH", "\x01"),
        Control("ESC sequence", "a\x1b[2Jb"),
        Control("DEL", "a\u007Fb"),
        Control("vertical tab", "a\vb"),
        BadUtf8("byte FF", 0x61, 0xFF, 0x62),
        BadUtf8("lone continuation byte", 0x80),
        BadUtf8("cut sequence", 0x61, 0xC3),
        BadUtf8("overlong slash", 0xC0, 0xAF),
        BadUtf8("UTF-16 surrogate", 0xED, 0xA0, 0x80),
        Plain("TAB", "a\tb"),
        Plain("C1 control", "a\u0085b"),
        Plain("long", new string('x', 3000)),
        Plain("long multi-byte", string.Concat(Enumerable.Repeat("€", 1000))),
        Plain("empty", ""),
        Plain("equals", "a=b"),
        Plain("path-like", "../%2F/x"),
        Plain("quote and backslash", "\"\\"),
    ];

    /// <summary>
    /// One field of one command: the line with <c>{}</c> where the hostile value goes, and the
    /// expected answer lines for a value that passes the line rules (control characters and
    /// invalid UTF-8 are refused before any command: <see cref="Hostile.LineError"/>).
    /// An expected line ending in <c>…</c> matches by prefix.
    /// </summary>
    public sealed record Field(string Template, Func<Hostile, string[]> Expected, bool Identified = true, int Commands = 0)
    {
        public byte[] Line(Hostile value, int index)
        {
            var template = Template.Replace("{n}", (index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
            var at = template.IndexOf("{}", StringComparison.Ordinal);
            return [.. Encoding.UTF8.GetBytes(template[..at]), .. value.Bytes, .. Encoding.UTF8.GetBytes(template[(at + 2)..]), (byte)'\n'];
        }
    }

    private static string[] None => [];

    private static Func<Hostile, string[]> Always(string answer) => _ => [answer];

    /// <summary>A token-like field (no whitespace allowed): TAB and over-long values get <paramref name="invalid"/>, an empty one <paramref name="missing"/>.</summary>
    private static Func<Hostile, string[]> Token(string invalid, string missing, Func<Hostile, string[]>? ok = null) => v => v.Name switch
    {
        "empty" => [missing],
        "TAB" or "C1 control" or "long" or "long multi-byte" => [invalid],
        _ => (ok ?? (_ => None))(v),
    };

    /// <summary>A free-text field at the end of the line: anything printable goes, an empty one is <paramref name="missing"/>.</summary>
    private static Func<Hostile, string[]> Text(string missing, Func<Hostile, string[]>? ok = null) =>
        v => v.IsEmpty ? [missing] : (ok ?? (_ => None))(v);

    private static Func<Hostile, string[]> NonEmpty(string answer, string missing) => v => v.IsEmpty ? [missing] : [answer];

    public static readonly Dictionary<string, Field> Fields = new()
    {
        ["keyword"] = new("{} x", v => [$"ERR Command \"{v.Text}\" not understood"], Identified: false),
        ["ID ident"] = new("ID {}", Always("ERR Invalid identification"), Identified: false),
        ["T trailing"] = new("T {}", Always("T …"), Identified: false),
        ["QUIT glued"] = new("QUIT{}x", v => [$"ERR Command \"QUIT{v.Text}x\" not understood"], Identified: false),
        ["B token"] = new("B {}", Text("ERR Missing token"), Identified: false),
        ["D type"] = new("D {} 21.5", Token("ERR Invalid type", "ERR Missing type")),
        ["D content"] = new("D T {}", Text("ERR Missing content")),
        ["D L content"] = new("D L {}", NonEmpty("ERR Invalid location", "ERR Missing content")),
        ["D G content"] = new("D G {}", NonEmpty("ERR Invalid location", "ERR Missing content")),
        ["D LS name"] = new("D LS:{} 1", Token("ERR Invalid type", "ERR Invalid type")),
        ["D echo content"] = new("D echo {}", Text("ERR Missing content", v => [$"D echo {v.Text}"])),
        ["E time"] = new("E {} T 1", NonEmpty("ERR Invalid time", "ERR Missing time")),
        ["E type"] = new("E 1700000000 {} 1", Token("ERR Invalid type", "ERR Missing type")),
        ["E content"] = new("E 1700000000 T {}", Text("ERR Missing content")),
        ["J time"] = new("J {} can {\"a\":1}", NonEmpty("ERR Invalid time", "ERR Missing time")),
        ["J type"] = new("J 1700000000 {} {\"a\":1}", Token("ERR Invalid type", "ERR Missing type")),
        ["J json"] = new("J 1700000000 can {}", NonEmpty("ERR Invalid JSON", "ERR Missing JSON")),
        ["A token"] = new("A {}", Text("ERR Missing token", v => [$"B {v.Text}"])),
        ["S verb"] = new("S {}", Always("ERR Invalid settings command")),
        ["S A name"] = new("S A {} 1", Token("ERR Invalid setting name", "ERR Missing setting name", v => v.Name == "equals" ? ["ERR Invalid setting name"] : None)),
        ["S A value"] = new("S A a {}", v => v.Name switch { "empty" => ["ERR Missing setting value"], "TAB" or "C1 control" => ["ERR Invalid setting value"], _ => None }),
        ["S S name"] = new("S S {} 1", Token("ERR Invalid setting name", "ERR Missing setting name", v => v.Name == "equals" ? ["ERR Invalid setting name"] : None)),
        ["S S value"] = new("S S a {}", v => v.Name switch { "empty" => ["ERR Missing setting value"], "TAB" or "C1 control" => ["ERR Invalid setting value"], _ => None }),
        ["S G name"] = new("S G {}", v => v.IsEmpty ? None : ["ERR Unknown setting"]),
        ["S U name"] = new("S U {}", Token("ERR Invalid setting name", "ERR Missing setting name", v => v.Name == "equals" ? ["ERR Invalid setting name"] : None)),
        ["C verb"] = new("C {}", Always("ERR Invalid commands command")),
        ["C A number"] = new("C A {}", NonEmpty("ERR Invalid number", "ERR Missing number")),
        ["C A response"] = new("C A {n} {}", _ => None, Commands: Values.Length),
        ["F verb"] = new("F {}", Always("ERR Invalid firmware command")),
        ["F N name"] = new("F N {}", NonEmpty("F N 0", "ERR Missing file name")),
        ["F G offset"] = new("F G {} 8", NonEmpty("ERR Invalid number", "ERR Missing offset")),
        ["F G size"] = new("F G 0 {}", NonEmpty("ERR Invalid number", "ERR Missing size")),
        ["DB sub"] = new("DB {}", Always("ERR Invalid diagnostics command")),
        ["DB LAST count"] = new("DB LAST {}", v => v.IsEmpty ? ["BEGIN LAST", "*", "*", "END"] : ["ERR Invalid number"]),
    };

    public static TheoryData<string> FieldNames => [.. Fields.Keys];

    [Theory]
    [MemberData(nameof(FieldNames))]
    public async Task Hostile_bytes_in_a_field_get_their_answer_and_the_session_goes_on(string fieldName)
    {
        var field = Fields[fieldName];
        var ident = Idents.New();
        if (field.Commands > 0)
        {
            var id = (await Server.Devices.CreateAsync(ident, cancellationToken: Ct)).Id;
            for (var i = 0; i < field.Commands; i++)
            {
                await Server.Devices.AddCommandAsync(id, $"command {i}", cancellationToken: Ct);
            }
        }

        await using var device = await Server.ConnectAlipAsync();
        if (field.Identified)
        {
            await device.IdentifyAsync(ident);
            for (var i = 0; i < field.Commands; i++)
            {
                await device.ExpectAsync($"C {i + 1} command {i}");
            }
            await device.ExpectAsync("S GA");
        }

        for (var i = 0; i < Values.Length; i++)
        {
            var value = Values[i];
            var line = field.Line(value, i);
            await device.SendRawAsync(line);
            var answers = await AnswersBeforeBarrierAsync(device, $"z{i}", $"{fieldName} / {value}", identified: field.Identified);
            // Before identification only short lines are read (issue 10, point 5): a longer one is refused whole.
            var expected = value.LineError is { } lineError ? [lineError]
                : !field.Identified && line.Length - 1 > UnidentifiedLineLimit ? [LongLineError]
                : field.Expected(value);
            AssertLines(expected, answers, $"{fieldName} / {value}");
        }

        if (!field.Identified)
        {
            // The lines above were sent before identification: the session still identifies.
            await device.IdentifyAsync(ident);
            await device.ExpectAsync("S GA");
        }
        await device.BarrierAsync("end");
    }

    [Fact]
    public async Task A_barrier_sent_behind_bad_lines_is_still_answered()
    {
        await using var device = await Server.ConnectAlipAsync();
        var ident = Idents.New();
        await device.IdentifyAsync(ident);
        await device.ExpectAsync("S GA");

        // One write: a record, then bad lines of every kind, then the barrier.
        byte[] burst =
        [
            .. "D T 1\n"u8, .. "S A a\x01 1\n"u8, .. "D T "u8, 0xFF, (byte)'\n', .. "S U \0\n"u8,
            .. "E 1700000000 "u8, .. Encoding.ASCII.GetBytes(new string('t', 300)), .. " 1\n"u8,
            .. "D T 2\n"u8, .. "A last\n"u8,
        ];
        await device.SendRawAsync(burst);
        var answers = await AnswersBeforeBarrierAsync(device, "last", "burst", sendBarrier: false);
        Assert.Equal(4, answers.Count);
        Assert.All(answers, a => Assert.StartsWith("ERR ", a));

        var records = await Server.RecordsAsync((await Server.DeviceAsync(ident)).Id, "sen:temp");
        Assert.Equal(["\"1\"", "\"2\""], records.Select(r => r.Data));
    }

    /// <summary>
    /// Sends <c>A token</c> (unless already sent) and returns the lines that came before its answer:
    /// <c>B token</c>, or <c>ERR You must be identified</c> on a connection that has not identified.
    /// </summary>
    private static async Task<List<string>> AnswersBeforeBarrierAsync(AlipDevice device, string token, string what, bool sendBarrier = true, bool identified = true)
    {
        var answer = identified ? $"B {token}" : "ERR You must be identified";
        if (sendBarrier)
        {
            await device.SendAsync($"A {token}");
        }
        var lines = new List<string>();
        while (true)
        {
            var line = await device.ReadLineAsync();
            Assert.True(line is not null, $"{what}: the server closed the connection after {string.Join(" | ", lines)}");
            Assert.False(line.StartsWith("QUIT", StringComparison.Ordinal), $"{what}: the server said {line}");
            if (line == answer)
            {
                return lines;
            }
            lines.Add(line);
        }
    }

    private static void AssertLines(string[] expected, List<string> actual, string what)
    {
        Assert.True(expected.Length == actual.Count, $"{what}: expected [{string.Join(" | ", expected)}], got [{string.Join(" | ", actual)}]");
        for (var i = 0; i < expected.Length; i++)
        {
            var e = expected[i];
            var ok = e == "*" || (e.EndsWith('…') ? actual[i].StartsWith(e[..^1], StringComparison.Ordinal) : actual[i] == e);
            Assert.True(ok, $"{what}: expected [{string.Join(" | ", expected)}], got [{string.Join(" | ", actual)}]");
        }
    }
}
