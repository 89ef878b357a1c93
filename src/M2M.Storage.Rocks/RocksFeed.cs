using System.Buffers.Binary;
using M2M.Storage.Forwarding;
using RocksDbSharp;

namespace M2M.Storage.Rocks;

/// <summary>
/// The forwarding feed in column family <c>feed</c> (<c>docs/storage-layout.md</c>):
/// <code>
/// 'e' │ domain:16 │ first:u64 BE → entry (FeedCodec): items first, first + 1, …
/// 's' │ domain:16              → last:u64 BE, the domain's last sequence (kept when the entries are trimmed)
/// 'c' │ endpoint:16            → delivered:u64 BE │ inFlightEnd:u64 BE
/// </code>
/// GUIDs are written big-endian (RFC 4122 byte order). Appends take the time-series write lock, so
/// sequences are handed out in commit order whichever path (records or events) appends.
/// </summary>
internal static class RocksFeed
{
    public const byte EntryTag = (byte)'e';
    public const byte SequenceTag = (byte)'s';
    public const byte CursorTag = (byte)'c';
    public const int KeyPrefixBytes = 17;
    public const int EntryKeyBytes = KeyPrefixBytes + 8;

    public static byte[] Prefix(byte tag, Guid id)
    {
        var key = new byte[KeyPrefixBytes];
        key[0] = tag;
        id.TryWriteBytes(key.AsSpan(1), bigEndian: true, out _);
        return key;
    }

    public static byte[] EntryKey(Guid domain, ulong first)
    {
        var key = new byte[EntryKeyBytes];
        key[0] = EntryTag;
        domain.TryWriteBytes(key.AsSpan(1), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(KeyPrefixBytes), first);
        return key;
    }

    public static Guid IdOf(ReadOnlySpan<byte> key) => new(key.Slice(1, 16), bigEndian: true);

    /// <summary>The last sequence of <paramref name="domain"/>; call under the write lock.</summary>
    public static long LastSequence(RocksStore store, RocksTimeSeriesStore.WriteState state, Guid domain)
    {
        if (!state.FeedLast.TryGetValue(domain, out var last))
        {
            var stored = store.Db.Get(Prefix(SequenceTag, domain), store.Family(RocksStore.Families.Feed));
            last = stored is { Length: 8 } ? (long)BinaryPrimitives.ReadUInt64BigEndian(stored) : 0;
            state.FeedLast[domain] = last;
        }
        return last;
    }

    /// <summary>
    /// Puts the entries of <paramref name="feed"/> and the domains' new last sequences into
    /// <paramref name="batch"/>; call under the write lock, then <see cref="Committed"/> once written.
    /// </summary>
    public static Dictionary<Guid, long> AddToBatch(RocksStore store, RocksTimeSeriesStore.WriteState state, WriteBatch batch, IReadOnlyList<FeedGroup> feed)
    {
        var family = store.Family(RocksStore.Families.Feed);
        var last = new Dictionary<Guid, long>();
        foreach (var group in feed)
        {
            if (group.Count <= 0)
            {
                continue;
            }
            if (FeedCodec.ReadCount(group.Payload) != group.Count)
            {
                throw new ArgumentException("A feed group's count differs from its payload's.", nameof(feed));
            }
            if (!last.TryGetValue(group.Domain, out var sequence))
            {
                sequence = LastSequence(store, state, group.Domain);
            }
            batch.Put(EntryKey(group.Domain, (ulong)sequence + 1), group.Payload, family);
            last[group.Domain] = sequence + group.Count;
        }
        var value = new byte[8];
        foreach (var (domain, sequence) in last)
        {
            BinaryPrimitives.WriteUInt64BigEndian(value, (ulong)sequence);
            batch.Put(Prefix(SequenceTag, domain), value, family);
        }
        return last;
    }

    /// <summary>Publishes the sequences of a written batch; call under the write lock.</summary>
    public static void Committed(RocksTimeSeriesStore.WriteState state, Dictionary<Guid, long>? last)
    {
        if (last is null)
        {
            return;
        }
        foreach (var (domain, sequence) in last)
        {
            state.FeedLast[domain] = sequence;
        }
    }

    /// <summary>Appends <paramref name="feed"/> in a commit of its own.</summary>
    public static void Append(RocksStore store, IReadOnlyList<FeedGroup> feed)
    {
        var state = RocksTimeSeriesStore.StateOf(store);
        lock (state.Lock)
        {
            using var batch = new WriteBatch();
            var last = AddToBatch(store, state, batch, feed);
            store.Db.Write(batch, store.WriteOptions);
            Committed(state, last);
        }
    }
}

/// <summary><see cref="IForwardingFeed"/> on the embedded RocksDB database (column family <c>feed</c>, <see cref="RocksFeed"/>).</summary>
public sealed class RocksForwardingFeed(RocksStore store) : IForwardingFeed
{
    private readonly ColumnFamilyHandle _family = store.Family(RocksStore.Families.Feed);

    public ValueTask AppendAsync(IReadOnlyList<FeedGroup> groups, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groups);
        cancellationToken.ThrowIfCancellationRequested();
        if (groups.Count > 0)
        {
            RocksFeed.Append(store, groups);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<FeedItem>> ReadAsync(Guid domain, long after, int maxItems, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(after);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var items = new List<FeedItem>(Math.Min(maxItems, 1024));
        var prefix = RocksFeed.Prefix(RocksFeed.EntryTag, domain);
        var upper = RocksFeed.Prefix(RocksFeed.EntryTag, domain);
        Increment(upper);
        var options = new ReadOptions().SetIterateUpperBound(upper);
        using var iterator = store.Db.NewIterator(_family, options);
        // The entry holding item after + 1 starts at or before it.
        iterator.SeekForPrev(RocksFeed.EntryKey(domain, (ulong)after + 1));
        if (!iterator.Valid() || !iterator.GetKeySpan().StartsWith(prefix))
        {
            iterator.Seek(prefix);
        }
        for (; iterator.Valid() && items.Count < maxItems; iterator.Next())
        {
            var key = iterator.GetKeySpan();
            if (!key.StartsWith(prefix) || key.Length != RocksFeed.EntryKeyBytes)
            {
                break;
            }
            var first = (long)BinaryPrimitives.ReadUInt64BigEndian(key[RocksFeed.KeyPrefixBytes..]);
            FeedCodec.Decode(iterator.GetValueSpan(), first, after, items, maxItems);
        }
        GC.KeepAlive(options);
        return ValueTask.FromResult<IReadOnlyList<FeedItem>>(items);
    }

    public ValueTask<long> GetLastSequenceAsync(Guid domain, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var state = RocksTimeSeriesStore.StateOf(store);
        lock (state.Lock)
        {
            return ValueTask.FromResult(RocksFeed.LastSequence(store, state, domain));
        }
    }

    public ValueTask<IReadOnlyList<Guid>> GetDomainsAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Every domain that ever had an item has a sequence key: walk those (few keys, one per domain).
        var domains = new List<Guid>();
        using var iterator = store.Db.NewIterator(_family);
        for (iterator.Seek([RocksFeed.SequenceTag]); iterator.Valid(); iterator.Next())
        {
            var key = iterator.GetKeySpan();
            if (key.Length != RocksFeed.KeyPrefixBytes || key[0] != RocksFeed.SequenceTag)
            {
                break;
            }
            domains.Add(RocksFeed.IdOf(key));
        }
        return ValueTask.FromResult<IReadOnlyList<Guid>>(domains);
    }

    public ValueTask TrimAsync(Guid domain, long upTo, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (upTo <= 0)
        {
            return ValueTask.CompletedTask;
        }
        var prefix = RocksFeed.Prefix(RocksFeed.EntryTag, domain);
        using var iterator = store.Db.NewIterator(_family);
        // The entry holding item upTo + 1 stays (and every later one); the ones before it are all ≤ upTo.
        iterator.SeekForPrev(RocksFeed.EntryKey(domain, (ulong)upTo + 1));
        if (!iterator.Valid() || !iterator.GetKeySpan().StartsWith(prefix) || iterator.GetKeySpan().Length != RocksFeed.EntryKeyBytes)
        {
            return ValueTask.CompletedTask;
        }
        var first = BinaryPrimitives.ReadUInt64BigEndian(iterator.GetKeySpan()[RocksFeed.KeyPrefixBytes..]);
        var count = FeedCodec.ReadCount(iterator.GetValueSpan());
        // Exclusive end: the entry found is removed too when all its items are ≤ upTo.
        var end = (long)first + count - 1 <= upTo ? first + 1 : first;
        var start = RocksFeed.EntryKey(domain, 0);
        var stop = RocksFeed.EntryKey(domain, end);
        using var batch = new WriteBatch();
        batch.DeleteRange(start, (ulong)start.Length, stop, (ulong)stop.Length, _family);
        store.Db.Write(batch, store.WriteOptions);
        return ValueTask.CompletedTask;
    }

    public ValueTask<FeedCursor?> GetCursorAsync(Guid endpoint, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var value = store.Db.Get(RocksFeed.Prefix(RocksFeed.CursorTag, endpoint), _family);
        FeedCursor? cursor = value is { Length: 16 }
            ? new FeedCursor((long)BinaryPrimitives.ReadUInt64BigEndian(value), (long)BinaryPrimitives.ReadUInt64BigEndian(value.AsSpan(8)))
            : null;
        return ValueTask.FromResult(cursor);
    }

    public ValueTask SetCursorAsync(Guid endpoint, FeedCursor cursor, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cursor.Delivered, nameof(cursor));
        cancellationToken.ThrowIfCancellationRequested();
        var value = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(value, (ulong)cursor.Delivered);
        BinaryPrimitives.WriteUInt64BigEndian(value.AsSpan(8), (ulong)Math.Max(cursor.InFlightEnd, cursor.Delivered));
        store.Db.Put(RocksFeed.Prefix(RocksFeed.CursorTag, endpoint), value, _family, store.WriteOptions);
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteCursorAsync(Guid endpoint, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        store.Db.Remove(RocksFeed.Prefix(RocksFeed.CursorTag, endpoint), _family, store.WriteOptions);
        return ValueTask.CompletedTask;
    }

    private static void Increment(byte[] key)
    {
        for (var i = key.Length - 1; i >= 0; i--)
        {
            if (++key[i] != 0)
            {
                return;
            }
        }
    }
}
