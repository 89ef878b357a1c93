using System.Text;
using RocksDbSharp;

namespace M2M.Storage.Rocks;

// The reusable state of a save (Prepare / CommitPrepared): the arena of keys and values, the series of the batch
// and the sort keys that put the batch's writes in key order.
public sealed partial class RocksTimeSeriesStore
{
    /// <summary>Where a record's keys and value lie in <see cref="SaveBuffers.Arena"/>, and its series in <see cref="SaveBuffers.Series"/>.</summary>
    private struct ArenaEntry
    {
        public int SeriesKey;
        public int SeriesKeyLength;
        public int TypeKey;
        public int TypeKeyLength;
        public int Value;
        public int ValueLength;
        public int Series;
    }

    /// <summary>One (id, type) of a batch: its newest record, and where the UTF-8 bytes of its id and type lie in the arena.</summary>
    private struct SeriesEntry
    {
        public string Id;
        public string Type;
        public int IdNumber;
        public int TypeNumber;
        public int Newest;
        public Instant Position;
    }

    /// <summary>Distinct ids or types of a batch: number → arena bytes, then rank in byte order.</summary>
    private sealed class NameSet
    {
        public readonly Dictionary<string, int> Numbers = new(StringComparer.Ordinal);
        public readonly List<(int At, int Length)> Bytes = [];
        public int[] Ranks = new int[64];
        private int[] _order = new int[64];

        /// <summary>The number of <paramref name="name"/> in this batch; a new name's bytes are at <paramref name="at"/> in the arena.</summary>
        public int NumberOf(string name, int at, int length)
        {
            ref var number = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(Numbers, name, out var exists);
            if (!exists)
            {
                number = Bytes.Count;
                Bytes.Add((at, length));
            }
            return number;
        }

        /// <summary>
        /// Ranks the names by their UTF-8 bytes (the order of the keys they start): equal bytes get equal ranks, so that
        /// records whose keys are equal stay in their input order (the last put wins).
        /// </summary>
        public void Rank(byte[] arena)
        {
            var count = Bytes.Count;
            if (_order.Length < count)
            {
                _order = new int[Math.Max(count, _order.Length * 2)];
                Ranks = new int[_order.Length];
            }
            var order = _order.AsSpan(0, count);
            for (var i = 0; i < count; i++)
            {
                order[i] = i;
            }
            var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Bytes);
            order.Sort(new NameOrder(arena, Bytes));
            var rank = 0;
            for (var i = 0; i < count; i++)
            {
                if (i > 0)
                {
                    var (at, length) = bytes[order[i]];
                    var (previousAt, previousLength) = bytes[order[i - 1]];
                    if (!arena.AsSpan(at, length).SequenceEqual(arena.AsSpan(previousAt, previousLength)))
                    {
                        rank++;
                    }
                }
                Ranks[order[i]] = rank;
            }
        }

        public void Clear()
        {
            Numbers.Clear();
            Bytes.Clear();
            // A rare huge call does not keep its buffers.
            if (Ranks.Length > 16 * 1024)
            {
                Ranks = new int[64];
                _order = new int[64];
            }
        }
    }

    private readonly struct NameOrder(byte[] arena, List<(int At, int Length)> bytes) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            var (a, aLength) = bytes[x];
            var (b, bLength) = bytes[y];
            return arena.AsSpan(a, aLength).SequenceCompareTo(arena.AsSpan(b, bLength));
        }
    }

    /// <summary>
    /// A record's place in key order, as integers: the byte order of its <c>ts</c> key is (month, id, time, type,
    /// discriminator) and of its <c>ts_type</c> key (month, id, type, time, discriminator); ids and types by their rank
    /// in the batch (byte order), time and discriminator as signed numbers (their keys flip the sign bit). The index
    /// comes last: records with equal keys keep their input order, the last put wins.
    /// </summary>
    private struct RecordOrder
    {
        public uint Month;
        public int Id;
        public int Type;
        public int Index;
        public long Time;
        public long Discriminator;
    }

    private readonly struct SeriesKeyOrder : IComparer<RecordOrder>
    {
        public int Compare(RecordOrder x, RecordOrder y)
        {
            var order = x.Month.CompareTo(y.Month);
            if (order != 0)
            {
                return order;
            }
            if ((order = x.Id.CompareTo(y.Id)) != 0 || (order = x.Time.CompareTo(y.Time)) != 0
                || (order = x.Type.CompareTo(y.Type)) != 0 || (order = x.Discriminator.CompareTo(y.Discriminator)) != 0)
            {
                return order;
            }
            return x.Index.CompareTo(y.Index);
        }
    }

    private readonly struct TypeKeyOrder : IComparer<RecordOrder>
    {
        public int Compare(RecordOrder x, RecordOrder y)
        {
            var order = x.Month.CompareTo(y.Month);
            if (order != 0)
            {
                return order;
            }
            if ((order = x.Id.CompareTo(y.Id)) != 0 || (order = x.Type.CompareTo(y.Type)) != 0
                || (order = x.Time.CompareTo(y.Time)) != 0 || (order = x.Discriminator.CompareTo(y.Discriminator)) != 0)
            {
                return order;
            }
            return x.Index.CompareTo(y.Index);
        }
    }

    /// <summary>Orders record indexes by their sort keys.</summary>
    private readonly struct IndexOrder<TOrder>(RecordOrder[] keys, TOrder order) : IComparer<int> where TOrder : struct, IComparer<RecordOrder>
    {
        public int Compare(int x, int y) => order.Compare(keys[x], keys[y]);
    }

    /// <summary>Orders series by their <c>ts_latest</c> key (id | 0x00 | type: id rank, then type rank), then by newest record.</summary>
    private readonly struct LatestKeyOrder(SeriesEntry[] series, int[] idRanks, int[] typeRanks) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            ref readonly var a = ref series[x];
            ref readonly var b = ref series[y];
            var order = idRanks[a.IdNumber].CompareTo(idRanks[b.IdNumber]);
            if (order == 0 && (order = typeRanks[a.TypeNumber].CompareTo(typeRanks[b.TypeNumber])) == 0)
            {
                order = a.Newest.CompareTo(b.Newest);
            }
            return order;
        }
    }

    /// <summary>Per-call state of <see cref="Save"/>, reused between calls.</summary>
    private sealed class SaveBuffers : IDisposable
    {
        private const int KeptArenaBytes = 4 << 20;
        private const int KeptEntries = 16 * 1024;

        public readonly WriteBatch Batch = new();
        public readonly byte[] SeriesKey = new byte[SeriesKeys.MaxKeyBytes];
        /// <summary>(id, type) → its number in <see cref="Series"/>.</summary>
        public readonly Dictionary<(string Id, string Type), int> SeriesNumbers = [];
        public SeriesEntry[] Series = new SeriesEntry[256];
        public int SeriesCount;
        public readonly NameSet Ids = new();
        public readonly NameSet Types = new();
        public readonly List<uint> Months = [];
        /// <summary>The series whose <c>ts_latest</c> this call writes (numbers in <see cref="Series"/>).</summary>
        public readonly List<int> Latest = [];

        /// <summary>Keys and values of the records of one call, back to back.</summary>
        public byte[] Arena = new byte[256 * 1024];
        private int _used;
        private ArenaEntry[] _entries = new ArenaEntry[1024];
        private RecordOrder[] _order = new RecordOrder[1024];
        private int[] _seriesOrder = new int[1024];
        private int[] _typeOrder = new int[1024];
        private int[] _counts = new int[1024];
        private int[] _latestOrder = new int[256];
        private byte[] _latestValue = new byte[4096];

        /// <summary>An array of at least <paramref name="count"/> entries.</summary>
        public ArenaEntry[] Entries(int count)
        {
            if (_entries.Length < count)
            {
                _entries = new ArenaEntry[Math.Max(count, _entries.Length * 2)];
            }
            return _entries;
        }

        /// <summary>Room for the sort keys of <paramref name="count"/> records (indexed by record).</summary>
        public RecordOrder[] Keys(int count)
        {
            if (_order.Length < count)
            {
                _order = new RecordOrder[Math.Max(count, _order.Length * 2)];
            }
            return _order;
        }

        /// <summary>
        /// The record indexes in <c>ts</c> key order (<paramref name="seriesOrder"/>) and in <c>ts_type</c> key order
        /// (<paramref name="typeOrder"/>), from the sort keys of <see cref="Keys"/>. Records are first grouped by
        /// (month, id) with two stable counting sorts (by id rank, then by month), so that only the records of one
        /// device and month are compared; those usually arrive in time order, and a group already in order is only
        /// checked. The <c>ts_type</c> order is the <c>ts</c> order with each group reordered by type.
        /// </summary>
        public void Sort(int count, out ReadOnlySpan<int> seriesOrder, out ReadOnlySpan<int> typeOrder)
        {
            if (_seriesOrder.Length < count)
            {
                var length = Math.Max(count, _seriesOrder.Length * 2);
                _seriesOrder = new int[length];
                _typeOrder = new int[length];
            }
            var keys = _order;
            var byId = _typeOrder.AsSpan(0, count);
            var ids = Ids.Bytes.Count;
            if (_counts.Length < ids + 1)
            {
                _counts = new int[Math.Max(ids + 1, _counts.Length * 2)];
            }
            var counts = _counts.AsSpan(0, ids + 1);
            counts.Clear();
            for (var i = 0; i < count; i++)
            {
                counts[keys[i].Id + 1]++;
            }
            for (var rank = 1; rank < counts.Length; rank++)
            {
                counts[rank] += counts[rank - 1];
            }
            for (var i = 0; i < count; i++)
            {
                byId[counts[keys[i].Id]++] = i;
            }
            var order = _seriesOrder.AsSpan(0, count);
            if (Months.Count == 1)
            {
                byId.CopyTo(order);
            }
            else
            {
                // Several months (rare): a second stable counting sort, by the rank of the month (the first key field).
                var months = Months.ToArray();
                Array.Sort(months);
                if (_counts.Length < months.Length + 1)
                {
                    _counts = new int[Math.Max(months.Length + 1, _counts.Length * 2)];
                }
                counts = _counts.AsSpan(0, months.Length + 1);
                counts.Clear();
                for (var i = 0; i < count; i++)
                {
                    counts[Array.BinarySearch(months, keys[i].Month) + 1]++;
                }
                for (var rank = 1; rank < counts.Length; rank++)
                {
                    counts[rank] += counts[rank - 1];
                }
                foreach (var i in byId)
                {
                    order[counts[Array.BinarySearch(months, keys[i].Month)]++] = i;
                }
            }
            SortGroups(order, keys, new SeriesKeyOrder());
            var types = _typeOrder.AsSpan(0, count);
            order.CopyTo(types);
            SortGroups(types, keys, new TypeKeyOrder());
            seriesOrder = order;
            typeOrder = types;
        }

        /// <summary>Sorts each run of one (month, id) of <paramref name="order"/> by <paramref name="comparer"/>.</summary>
        private static void SortGroups<TOrder>(Span<int> order, RecordOrder[] keys, TOrder comparer) where TOrder : struct, IComparer<RecordOrder>
        {
            var start = 0;
            for (var i = 1; i <= order.Length; i++)
            {
                if (i < order.Length && keys[order[i]].Id == keys[order[start]].Id && keys[order[i]].Month == keys[order[start]].Month)
                {
                    continue;
                }
                var group = order[start..i];
                start = i;
                var sorted = true;
                for (var j = 1; j < group.Length && sorted; j++)
                {
                    sorted = comparer.Compare(keys[group[j - 1]], keys[group[j]]) <= 0;
                }
                if (!sorted)
                {
                    group.Sort(new IndexOrder<TOrder>(keys, comparer));
                }
            }
        }

        /// <summary>The number of series (id, type), adding it (with its newest record so far) when new.</summary>
        public int SeriesOf(string id, string type, int index, Instant position, out bool added)
        {
            ref var number = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(SeriesNumbers, (id, type), out var exists);
            added = !exists;
            if (exists)
            {
                return number;
            }
            number = SeriesCount;
            if (Series.Length == SeriesCount)
            {
                Array.Resize(ref Series, SeriesCount * 2);
            }
            Series[SeriesCount++] = new SeriesEntry { Id = id, Type = type, Newest = index, Position = position };
            return number;
        }

        /// <summary>The series numbers 0 .. <see cref="SeriesCount"/> - 1 in <c>ts_latest</c> key order (after <see cref="NameSet.Rank"/>).</summary>
        public Span<int> LatestOrder()
        {
            if (_latestOrder.Length < SeriesCount)
            {
                _latestOrder = new int[Math.Max(SeriesCount, _latestOrder.Length * 2)];
            }
            var order = _latestOrder.AsSpan(0, SeriesCount);
            for (var i = 0; i < order.Length; i++)
            {
                order[i] = i;
            }
            order.Sort(new LatestKeyOrder(Series, Ids.Ranks, Types.Ranks));
            return order;
        }

        /// <summary>Room for <paramref name="bytes"/> at the end of the arena (growing it), at offset <paramref name="at"/>; see <see cref="Commit"/>.</summary>
        public Span<byte> Reserve(int bytes, out int at)
        {
            if (Arena.Length - _used < bytes)
            {
                Array.Resize(ref Arena, Math.Max(_used + bytes, Arena.Length * 2));
            }
            at = _used;
            return Arena.AsSpan(_used, bytes);
        }

        /// <summary>Keeps the first <paramref name="bytes"/> of the last <see cref="Reserve"/>.</summary>
        public void Commit(int bytes) => _used += bytes;

        /// <summary>Appends <paramref name="data"/> as UTF-8; returns its length and its offset.</summary>
        public int AppendData(string data, out int at)
        {
            var max = Encoding.UTF8.GetMaxByteCount(data.Length);
            var room = Reserve(max <= 64 * 1024 ? max : Encoding.UTF8.GetByteCount(data), out at);
            var length = Encoding.UTF8.GetBytes(data, room);
            Commit(length);
            return length;
        }

        /// <summary>The <c>ts_latest</c> key of series number <paramref name="series"/> (id | 0x00 | type) from the arena, in <see cref="SeriesKey"/>.</summary>
        public ReadOnlySpan<byte> LatestKey(int series)
        {
            ref readonly var entry = ref Series[series];
            var (idAt, idLength) = Ids.Bytes[entry.IdNumber];
            var (typeAt, typeLength) = Types.Bytes[entry.TypeNumber];
            var key = SeriesKey.AsSpan();
            Arena.AsSpan(idAt, idLength).CopyTo(key);
            key[idLength] = 0;
            Arena.AsSpan(typeAt, typeLength).CopyTo(key[(idLength + 1)..]);
            return key[..(idLength + 1 + typeLength)];
        }

        /// <summary>A buffer of exactly <paramref name="length"/> bytes for one <c>ts_latest</c> value.</summary>
        public Span<byte> LatestValue(int length)
        {
            if (_latestValue.Length < length)
            {
                _latestValue = new byte[Math.Max(length, _latestValue.Length * 2)];
            }
            return _latestValue.AsSpan(0, length);
        }

        public void Reset()
        {
            Batch.Clear();
            SeriesNumbers.Clear();
            Array.Clear(Series, 0, SeriesCount);
            SeriesCount = 0;
            Ids.Clear();
            Types.Clear();
            Months.Clear();
            Latest.Clear();
            _used = 0;
            // A rare huge call does not keep its buffers.
            if (Arena.Length > KeptArenaBytes)
            {
                Arena = new byte[256 * 1024];
            }
            if (_entries.Length > KeptEntries)
            {
                _entries = new ArenaEntry[1024];
                _order = new RecordOrder[1024];
                _seriesOrder = new int[1024];
                _typeOrder = new int[1024];
                _counts = new int[1024];
            }
            if (Series.Length > KeptEntries)
            {
                Series = new SeriesEntry[256];
                _latestOrder = new int[256];
            }
            if (_latestValue.Length > 64 * 1024)
            {
                _latestValue = new byte[4096];
            }
        }

        public void Dispose() => Batch.Dispose();
    }
}
