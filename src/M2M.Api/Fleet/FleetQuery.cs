using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Messaging.Presence;

namespace M2M.Api.Fleet;

/// <summary>Orders of the fleet listing.</summary>
public enum FleetSort
{
    /// <summary>By ident (ordinal).</summary>
    Ident,

    /// <summary>By display name (case-insensitive), then ident.</summary>
    Name,

    /// <summary>By last activity (a connected device counts as seen now), then ident.</summary>
    LastSeen,

    /// <summary>Connected devices first (or last, descending), then ident.</summary>
    Online,
}

/// <summary>A search of the <see cref="FleetIndex"/>.</summary>
/// <param name="DomainId">Only this domain (<c>null</c>: every domain, for administrators).</param>
/// <param name="Search">Case-insensitive substring of the ident or the display name.</param>
/// <param name="Sort">Order.</param>
/// <param name="Descending">Reverse order.</param>
/// <param name="Limit">Page size.</param>
/// <param name="After">Position of the last entry of the previous page.</param>
internal sealed record FleetQuery(Guid? DomainId, string? Search, FleetSort Sort, bool Descending, int Limit, FleetPosition? After);

/// <summary>Where a page ended: the sort keys of its last entry (the ident alone is unique).</summary>
internal sealed record FleetPosition(
    [property: JsonPropertyName("i")] string Ident,
    [property: JsonPropertyName("n")] string? Name = null,
    [property: JsonPropertyName("t")] long LastSeen = 0,
    [property: JsonPropertyName("c")] bool Connected = false)
{
    public string Encode() => JsonSerializer.Serialize(this, FleetJson.Default.FleetPosition);

    public static bool TryDecode(string text, out FleetPosition? position)
    {
        try
        {
            position = JsonSerializer.Deserialize(text, FleetJson.Default.FleetPosition);
            return position is { Ident.Length: > 0 };
        }
        catch (JsonException)
        {
            position = null;
            return false;
        }
    }
}

/// <summary>A page of index entries, the position after its last one, and how many entries match in all.</summary>
internal sealed record FleetIndexPage(IReadOnlyList<FleetEntry> Items, FleetPosition? Next, int Total);

[JsonSerializable(typeof(FleetPosition))]
internal sealed partial class FleetJson : JsonSerializerContext;

public sealed partial class FleetIndex
{
    /// <summary>
    /// One page of the fleet: filter by domain and search text, sort, and continue after a position.
    /// Ident and name orders scan a presorted array from the cursor (binary search); last-seen and
    /// online orders, whose keys move all the time, keep the page's entries in a bounded heap during
    /// one pass. Either way: one scan of the index, no allocation per device.
    /// </summary>
    internal FleetIndexPage Query(FleetQuery query, IConnectedDevices connections)
    {
        var views = GetViews();
        var search = string.IsNullOrEmpty(query.Search) ? null : query.Search.ToLowerInvariant();
        bool Matches(FleetEntry e) =>
            (query.DomainId is not { } d || e.DomainId == d)
            && (search is null || e.SearchText.Contains(search, StringComparison.Ordinal));

        if (query.Sort is FleetSort.Ident or FleetSort.Name)
        {
            return ScanSorted(query.Sort == FleetSort.Ident ? views.ByIdent : views.ByName, query, Matches);
        }

        if (query.Sort == FleetSort.Online)
        {
            return ScanOnline(views.ByIdent, query, Matches, connections);
        }

        // Last seen moves all the time: no presorted view. One pass keeps the page's
        // entries in a heap of limit + 1 (O(n log limit)), never sorting every match.
        var comparer = Comparer<Keyed>.Create((a, b) => a.LastSeen != b.LastSeen ? a.LastSeen.CompareTo(b.LastSeen) : string.CompareOrdinal(a.Entry.Ident, b.Entry.Ident));
        // In page order: ascending, or reversed for descending.
        var inOrder = query.Descending ? Comparer<Keyed>.Create((a, b) => comparer.Compare(b, a)) : comparer;
        Keyed? probe = query.After is { } after
            ? new Keyed(new FleetEntry(Guid.Empty, after.Ident, after.Name, Guid.Empty), after.Connected, after.LastSeen)
            : null;
        // The heap's top is the entry that would leave the page first (the last one in page order).
        var heap = new PriorityQueue<Keyed, Keyed>(query.Limit + 2, Comparer<Keyed>.Create((a, b) => inOrder.Compare(b, a)));
        var total = 0;
        foreach (var e in views.ByIdent)
        {
            if (!Matches(e))
            {
                continue;
            }
            total++;
            var connected = connections.IsConnected(e.Id);
            var keyed = new Keyed(e, connected, connected ? long.MaxValue : Volatile.Read(ref e.LastSeen));
            if (probe is { } p && inOrder.Compare(keyed, p) <= 0)
            {
                continue;
            }
            if (heap.Count <= query.Limit)
            {
                heap.Enqueue(keyed, keyed);
            }
            else if (inOrder.Compare(keyed, heap.Peek()) < 0)
            {
                heap.DequeueEnqueue(keyed, keyed);
            }
        }
        var page = new List<Keyed>(heap.Count);
        while (heap.TryDequeue(out var k, out _))
        {
            page.Add(k);
        }
        page.Sort(inOrder);
        FleetPosition? next = null;
        if (page.Count > query.Limit)
        {
            page.RemoveAt(page.Count - 1);
            var last = page[^1];
            next = new FleetPosition(last.Entry.Ident, last.Entry.DisplayName, last.LastSeen, last.Connected);
        }
        return new FleetIndexPage(page.ConvertAll(k => k.Entry), next, total);
    }

    /// <summary>The newest <paramref name="limit"/> positions of the devices matching the domain and search, and how many devices have one.</summary>
    internal (List<FleetEntry> Items, int Total) Positions(Guid? domainId, string? search, int limit)
    {
        var matching = new List<FleetEntry>();
        var lower = string.IsNullOrEmpty(search) ? null : search.ToLowerInvariant();
        foreach (var e in GetViews().ByIdent)
        {
            if (Volatile.Read(ref e.Position) is not null
                && (domainId is not { } d || e.DomainId == d)
                && (lower is null || e.SearchText.Contains(lower, StringComparison.Ordinal)))
            {
                matching.Add(e);
            }
        }
        var total = matching.Count;
        if (matching.Count > limit)
        {
            matching.Sort((a, b) => b.Position!.Time.CompareTo(a.Position!.Time));
            matching.RemoveRange(limit, matching.Count - limit);
        }
        return (matching, total);
    }

    /// <summary>
    /// By online, then ident: the ident-sorted array walked once per group (connected, then the
    /// others, or the reverse), in ident order or reversed — no sorting, O(n) presence lookups.
    /// </summary>
    private static FleetIndexPage ScanOnline(FleetEntry[] byIdent, FleetQuery query, Func<FleetEntry, bool> matches, IConnectedDevices connections)
    {
        bool[] groups = query.Descending ? [true, false] : [false, true];
        var items = new List<FleetEntry>(query.Limit);
        FleetPosition? next = null;
        var total = 0;
        foreach (var e in byIdent)
        {
            if (matches(e))
            {
                total++;
            }
        }
        var afterGroup = query.After is { } a ? Array.IndexOf(groups, a.Connected) : 0;
        var lastGroup = false;
        for (var g = afterGroup; g < groups.Length && next is null; g++)
        {
            int start;
            if (g == afterGroup && query.After is { } after)
            {
                var probe = new FleetEntry(Guid.Empty, after.Ident, null, Guid.Empty);
                start = query.Descending ? LastBelow(byIdent, probe, FleetComparers.Ident) : FirstAbove(byIdent, probe, FleetComparers.Ident);
            }
            else
            {
                start = query.Descending ? byIdent.Length - 1 : 0;
            }
            for (var i = start; i >= 0 && i < byIdent.Length; i += query.Descending ? -1 : 1)
            {
                var e = byIdent[i];
                if (!matches(e) || connections.IsConnected(e.Id) != groups[g])
                {
                    continue;
                }
                if (items.Count == query.Limit)
                {
                    var last = items[^1];
                    next = new FleetPosition(last.Ident, last.DisplayName, 0, lastGroup);
                    break;
                }
                items.Add(e);
                lastGroup = groups[g];
            }
        }
        return new FleetIndexPage(items, next, total);
    }

    private static FleetIndexPage ScanSorted(FleetEntry[] ordered, FleetQuery query, Func<FleetEntry, bool> matches)
    {
        var comparer = query.Sort == FleetSort.Ident ? FleetComparers.Ident : FleetComparers.Name;
        int start;
        if (query.After is { } after)
        {
            var probe = new FleetEntry(Guid.Empty, after.Ident, after.Name, Guid.Empty);
            start = query.Descending ? LastBelow(ordered, probe, comparer) : FirstAbove(ordered, probe, comparer);
        }
        else
        {
            start = query.Descending ? ordered.Length - 1 : 0;
        }
        // One pass over the whole array: the total counts every match, the page takes those after the cursor.
        var items = new List<FleetEntry>(query.Limit);
        FleetPosition? next = null;
        var total = 0;
        for (var i = 0; i < ordered.Length; i++)
        {
            var e = ordered[i];
            if (!matches(e))
            {
                continue;
            }
            total++;
            var afterCursor = query.Descending ? i <= start : i >= start;
            if (!afterCursor || next is not null)
            {
                continue;
            }
            if (items.Count == query.Limit)
            {
                // Ascending, the (limit + 1)th match after the cursor proves there is a next page.
                next = new FleetPosition(items[^1].Ident, items[^1].DisplayName);
                continue;
            }
            if (!query.Descending)
            {
                items.Add(e);
            }
        }
        if (query.Descending)
        {
            // Descending pages walk the array backwards from the cursor.
            for (var i = start; i >= 0; i--)
            {
                if (!matches(ordered[i]))
                {
                    continue;
                }
                if (items.Count == query.Limit)
                {
                    next = new FleetPosition(items[^1].Ident, items[^1].DisplayName);
                    break;
                }
                items.Add(ordered[i]);
            }
        }
        return new FleetIndexPage(items, next, total);
    }

    /// <summary>Index of the first element greater than <paramref name="probe"/>.</summary>
    private static int FirstAbove<T>(T[] sorted, T probe, IComparer<T> comparer)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (comparer.Compare(sorted[mid], probe) <= 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    /// <summary>Index of the last element smaller than <paramref name="probe"/> (-1 when none).</summary>
    private static int LastBelow<T>(T[] sorted, T probe, IComparer<T> comparer)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (comparer.Compare(sorted[mid], probe) < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo - 1;
    }

    /// <summary>An entry with the sort keys of this request.</summary>
    private readonly record struct Keyed(FleetEntry Entry, bool Connected, long LastSeen);
}
