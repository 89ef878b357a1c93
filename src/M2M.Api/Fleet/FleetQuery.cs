using System.Text.Json;
using System.Text.Json.Serialization;
using M2M.Ingest.Connections;

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
    /// online orders sort the matching entries of this request (their keys move all the time).
    /// </summary>
    internal FleetIndexPage Query(FleetQuery query, IConnectionRegistry connections)
    {
        var views = GetViews();
        var search = string.IsNullOrEmpty(query.Search) ? null : query.Search;
        bool Matches(FleetEntry e) =>
            (query.DomainId is not { } d || e.DomainId == d)
            && (search is null
                || e.Ident.Contains(search, StringComparison.OrdinalIgnoreCase)
                || (e.DisplayName?.Contains(search, StringComparison.OrdinalIgnoreCase) ?? false));

        FleetEntry[] ordered;
        IComparer<Keyed> comparer;
        Keyed[] keyed;
        var now = long.MaxValue;
        switch (query.Sort)
        {
            case FleetSort.Ident or FleetSort.Name:
                ordered = query.Sort == FleetSort.Ident ? views.ByIdent : views.ByName;
                return ScanSorted(ordered, query, Matches);
            case FleetSort.LastSeen:
                keyed = [.. views.ByIdent.Where(Matches).Select(e => new Keyed(e, connections.IsConnected(e.Id), connections.IsConnected(e.Id) ? now : Volatile.Read(ref e.LastSeen)))];
                comparer = Comparer<Keyed>.Create((a, b) => a.LastSeen != b.LastSeen ? a.LastSeen.CompareTo(b.LastSeen) : string.CompareOrdinal(a.Entry.Ident, b.Entry.Ident));
                break;
            default:
                keyed = [.. views.ByIdent.Where(Matches).Select(e => new Keyed(e, connections.IsConnected(e.Id), 0))];
                comparer = Comparer<Keyed>.Create((a, b) => a.Connected != b.Connected ? a.Connected.CompareTo(b.Connected) : string.CompareOrdinal(a.Entry.Ident, b.Entry.Ident));
                break;
        }
        Array.Sort(keyed, comparer);
        var start = 0;
        if (query.After is { } after)
        {
            var probe = new Keyed(new FleetEntry(Guid.Empty, after.Ident, after.Name, Guid.Empty), after.Connected, after.LastSeen);
            start = query.Descending ? LastBelow(keyed, probe, comparer) : FirstAbove(keyed, probe, comparer);
        }
        var items = new List<FleetEntry>(query.Limit);
        FleetPosition? next = null;
        var step = query.Descending ? -1 : 1;
        if (query.Descending && query.After is null)
        {
            start = keyed.Length - 1;
        }
        for (var i = start; i >= 0 && i < keyed.Length; i += step)
        {
            if (items.Count == query.Limit)
            {
                var last = keyed[i - step];
                next = new FleetPosition(last.Entry.Ident, last.Entry.DisplayName, last.LastSeen, last.Connected);
                break;
            }
            items.Add(keyed[i].Entry);
        }
        return new FleetIndexPage(items, next, keyed.Length);
    }

    /// <summary>The newest <paramref name="limit"/> positions of the devices matching the domain and search, and how many devices have one.</summary>
    internal (List<FleetEntry> Items, int Total) Positions(Guid? domainId, string? search, int limit)
    {
        var matching = new List<FleetEntry>();
        foreach (var e in GetViews().ByIdent)
        {
            if (Volatile.Read(ref e.Position) is not null
                && (domainId is not { } d || e.DomainId == d)
                && (string.IsNullOrEmpty(search)
                    || e.Ident.Contains(search, StringComparison.OrdinalIgnoreCase)
                    || (e.DisplayName?.Contains(search, StringComparison.OrdinalIgnoreCase) ?? false)))
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
        var step = query.Descending ? -1 : 1;
        var items = new List<FleetEntry>(query.Limit);
        FleetPosition? next = null;
        for (var i = start; i >= 0 && i < ordered.Length; i += step)
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
        // The total counts every match, not only those after the cursor: one pass over the array.
        var total = 0;
        foreach (var e in ordered)
        {
            if (matches(e))
            {
                total++;
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
