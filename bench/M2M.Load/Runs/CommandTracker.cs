using System.Diagnostics;
using System.Globalization;
using M2M.Load.Stats;

namespace M2M.Load.Runs;

/// <summary>
/// The bookkeeping of <c>m2m-load commands</c>: each command's text carries the run's tag and its
/// sequence number (<c>m2m-load &lt;tag&gt; &lt;seq&gt;</c>), so a delivery on a device's socket finds
/// the POST that queued it even when it arrives before the POST's answer (the server pushes before it
/// answers). Acknowledgement events name the command id, which the POST's answer gives; an event that
/// comes first is kept until the answer arrives. Every timestamp is a <see cref="Stopwatch"/> one:
/// the tool is both the API client and the device, one clock.
/// </summary>
/// <remarks>Thread-safe: the sender, the devices' readers and the event reader call it at once.</remarks>
public sealed class CommandTracker
{
    private const string Prefix = "m2m-load ";

    private readonly Entry[] _entries;
    private readonly object _gate = new();
    private readonly Dictionary<string, int> _byCommandId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _earlyAcks = new(StringComparer.Ordinal);
    private long _duplicates;
    private long _foreign;
    private long _delivered;
    private long _acked;

    /// <param name="capacity">The most commands of the run (sequence numbers 0 … capacity − 1).</param>
    /// <param name="tag">Tells this run's commands from those of earlier runs (resent at identification); letters and digits.</param>
    public CommandTracker(int capacity, string tag)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        if (tag.Length == 0 || !tag.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException("The tag must be letters and digits.", nameof(tag));
        }
        _entries = new Entry[capacity];
        Tag = tag;
    }

    public string Tag { get; }

    public int Capacity => _entries.Length;

    /// <summary>Deliveries of a command already delivered (a resend after a reconnect).</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Deliveries that are not this run's commands (another run's, or unparsable).</summary>
    public long Foreign => Interlocked.Read(ref _foreign);

    public long Delivered => Interlocked.Read(ref _delivered);

    public long Acked => Interlocked.Read(ref _acked);

    /// <summary>The text of command <paramref name="sequence"/>.</summary>
    public string Text(int sequence) => string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Tag} {sequence}");

    /// <summary>The sequence number in <paramref name="text"/> when it is a command of this run.</summary>
    public bool TryParse(string text, out int sequence)
    {
        sequence = -1;
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var rest = text.AsSpan(Prefix.Length);
        if (!rest.StartsWith(Tag, StringComparison.Ordinal) || rest.Length < Tag.Length + 2 || rest[Tag.Length] != ' ')
        {
            return false;
        }
        return int.TryParse(rest[(Tag.Length + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out sequence)
            && sequence < _entries.Length;
    }

    /// <summary>The POST of command <paramref name="sequence"/> to device <paramref name="device"/> is about to be sent.</summary>
    public void Posting(int sequence, int device, long timestamp)
    {
        var e = new Entry { Device = device, Posted = timestamp };
        Volatile.Write(ref _entries[sequence], e);
    }

    /// <summary>The POST was answered: 201 with <paramref name="commandId"/>, or an error (<paramref name="commandId"/> null).</summary>
    public void Answered(int sequence, string? commandId, long timestamp)
    {
        var e = _entries[sequence];
        e.Answered = timestamp;
        if (commandId is null)
        {
            e.Failed = true;
            return;
        }
        long early;
        lock (_gate)
        {
            e.CommandId = commandId;
            _byCommandId[commandId] = sequence;
            if (!_earlyAcks.Remove(commandId, out early))
            {
                return;
            }
        }
        SetAcked(e, early);
    }

    /// <summary>A device read a command's text at <paramref name="timestamp"/>.</summary>
    public void Received(string text, long timestamp)
    {
        if (!TryParse(text, out var sequence) || Volatile.Read(ref _entries[sequence]) is not { } e)
        {
            Interlocked.Increment(ref _foreign);
            return;
        }
        if (Interlocked.CompareExchange(ref e.Delivered, timestamp, 0) != 0)
        {
            Interlocked.Increment(ref _duplicates);
            return;
        }
        Interlocked.Increment(ref _delivered);
    }

    /// <summary>The API reported command <paramref name="commandId"/> acknowledged at <paramref name="timestamp"/>.</summary>
    public void AckSeen(string commandId, long timestamp)
    {
        Entry e;
        lock (_gate)
        {
            if (!_byCommandId.TryGetValue(commandId, out var sequence))
            {
                // The event came before the POST's answer (or is not this run's: dropped at the end).
                _earlyAcks.TryAdd(commandId, timestamp);
                return;
            }
            e = _entries[sequence];
        }
        SetAcked(e, timestamp);
    }

    private void SetAcked(Entry e, long timestamp)
    {
        if (Interlocked.CompareExchange(ref e.Acked, timestamp, 0) == 0)
        {
            Interlocked.Increment(ref _acked);
        }
    }

    /// <summary>The figures of the commands posted so far (sequence numbers below <paramref name="posted"/>).</summary>
    public CommandFigures Figures(int posted)
    {
        var f = new CommandFigures();
        for (var i = 0; i < Math.Min(posted, _entries.Length); i++)
        {
            if (Volatile.Read(ref _entries[i]) is not { } e)
            {
                continue;
            }
            f.Posted++;
            if (e.Answered != 0)
            {
                f.Post.Record(Micros(e.Answered - e.Posted));
            }
            var delivered = Interlocked.Read(ref e.Delivered);
            var acked = Interlocked.Read(ref e.Acked);
            if (e.Failed)
            {
                f.ApiErrors++;
                if (delivered != 0)
                {
                    f.DeliveredDespiteError++;
                }
                continue;
            }
            if (e.Answered == 0)
            {
                f.Unanswered++;
            }
            if (delivered != 0)
            {
                f.Delivery.Record(Micros(delivered - e.Posted));
            }
            else if (e.Answered != 0)
            {
                f.Lost++;
                f.LostIds.Add(e.CommandId!);
            }
            if (acked != 0)
            {
                f.Ack.Record(Micros(acked - e.Posted));
            }
            else if (delivered != 0)
            {
                f.AckMissing++;
                f.AckMissingIds.Add((e.Device, e.CommandId!));
            }
        }
        return f;
    }

    /// <summary>The device command <paramref name="sequence"/> went to (−1 when it was not posted).</summary>
    public int DeviceOf(int sequence) => Volatile.Read(ref _entries[sequence])?.Device ?? -1;

    private static long Micros(long ticks) => ticks * 1_000_000 / Stopwatch.Frequency;

    private sealed class Entry
    {
        public int Device;
        public long Posted;
        public long Answered;
        public bool Failed;
        public string? CommandId;
        public long Delivered;
        public long Acked;
    }
}

/// <summary>Latencies (µs) and counts of a run's commands.</summary>
public sealed class CommandFigures
{
    public LatencyHistogram Delivery { get; } = new();

    public LatencyHistogram Ack { get; } = new();

    public LatencyHistogram Post { get; } = new();

    public long Posted { get; set; }

    /// <summary>POSTs answered with an error or not answered at all (timeout, connection failure).</summary>
    public long ApiErrors { get; set; }

    /// <summary>POSTs that failed on the client's side yet reached the device (a timeout after the server queued it).</summary>
    public long DeliveredDespiteError { get; set; }

    /// <summary>POSTs still unanswered.</summary>
    public long Unanswered { get; set; }

    /// <summary>Queued (201) and never read by the device.</summary>
    public long Lost { get; set; }

    public List<string> LostIds { get; } = [];

    /// <summary>Delivered, and no acknowledgement event seen.</summary>
    public long AckMissing { get; set; }

    public List<(int Device, string CommandId)> AckMissingIds { get; } = [];
}
