using System.Text;
using System.Text.Json;

namespace M2M.Storage.Registry;

/// <summary>
/// The subtree operations of <see cref="IRegistry"/> (JSON export and import, copy, move), written once
/// over the registry's node operations so that every backend has them. A backend may implement them
/// itself for speed or atomicity; its results must be the same (the registry contract tests check both).
/// </summary>
/// <remarks>
/// These run as a sequence of registry calls, each atomic on its own: an import or a copy interrupted by
/// a crash leaves the nodes written so far (every one complete), which the caller repeats or removes.
/// </remarks>
public static class RegistrySubtree
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, MaxDepth = RegistryPath.MaxLength };
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = RegistryPath.MaxLength };

    /// <summary>See <see cref="IRegistry.ExportJsonAsync"/>.</summary>
    public static async ValueTask<string> ExportJsonAsync(IRegistry registry, RegistryPath path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        if (await registry.GetStatusAsync(path, cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            throw new RegistryNodeNotFoundException(path);
        }
        using var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            await ExportNodeAsync(registry, writer, path, cancellationToken).ConfigureAwait(false);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static async ValueTask ExportNodeAsync(IRegistry registry, Utf8JsonWriter writer, RegistryPath path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entries = await registry.GetEntriesAsync(path, cancellationToken).ConfigureAwait(false);
        writer.WriteStartObject();
        writer.WriteStartObject("values");
        foreach (var entry in entries)
        {
            writer.WriteString(entry.Name, entry.Value);
        }
        writer.WriteEndObject();
        if (entries.Any(e => e.ExpiresAtMs != 0))
        {
            writer.WriteStartObject("expires");
            foreach (var entry in entries.Where(e => e.ExpiresAtMs != 0))
            {
                writer.WriteNumber(entry.Name, entry.ExpiresAtMs);
            }
            writer.WriteEndObject();
        }
        writer.WriteStartObject("children");
        foreach (var child in await registry.GetChildrenAsync(path, includeHidden: true, cancellationToken).ConfigureAwait(false))
        {
            var childPath = path.Child(child);
            if (await registry.GetStatusAsync(childPath, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created)
            {
                writer.WritePropertyName(child);
                await ExportNodeAsync(registry, writer, childPath, cancellationToken).ConfigureAwait(false);
            }
        }
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>See <see cref="IRegistry.ImportJsonAsync"/>.</summary>
    public static async ValueTask ImportJsonAsync(IRegistry registry, RegistryPath path, string json, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        // The whole document is validated before anything is written.
        foreach (var node in ParseExport(path, json))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await registry.CreateWithEntriesAsync(node.Path, node.Entries, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads and validates a whole export, to be imported under <paramref name="path"/>: its nodes,
    /// parents before children, each with its values.
    /// </summary>
    /// <exception cref="RegistryImportException">The document is not a registry export.</exception>
    public static IReadOnlyList<RegistryExportNode> ParseExport(RegistryPath path, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw new RegistryImportException("The import is not valid JSON.", ex);
        }
        using (document)
        {
            var nodes = new List<RegistryExportNode>();
            Collect(document.RootElement, path, nodes);
            return nodes;
        }
    }

    private static void Collect(JsonElement element, RegistryPath path, List<RegistryExportNode> nodes)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new RegistryImportException($"Node '{path}' is not a JSON object.");
        }
        var entries = new List<RegistryEntry>();
        var expires = new Dictionary<string, long>(StringComparer.Ordinal);
        if (element.TryGetProperty("expires", out var exp))
        {
            if (exp.ValueKind != JsonValueKind.Object)
            {
                throw new RegistryImportException($"'expires' of '{path}' is not an object.");
            }
            foreach (var e in exp.EnumerateObject())
            {
                if (e.Value.ValueKind != JsonValueKind.Number || !e.Value.TryGetInt64(out var ms) || ms <= 0)
                {
                    throw new RegistryImportException($"Expiry of '{e.Name}' in '{path}' is not a positive integer.");
                }
                expires[e.Name] = ms;
            }
        }
        if (element.TryGetProperty("values", out var values))
        {
            if (values.ValueKind != JsonValueKind.Object)
            {
                throw new RegistryImportException($"'values' of '{path}' is not an object.");
            }
            foreach (var v in values.EnumerateObject())
            {
                if (v.Value.ValueKind != JsonValueKind.String)
                {
                    throw new RegistryImportException($"Value '{v.Name}' of '{path}' is not a string.");
                }
                var text = v.Value.GetString()!;
                RegistryLimits.Check(v.Name, text);
                entries.Add(new RegistryEntry(v.Name, text, expires.GetValueOrDefault(v.Name)));
            }
        }
        nodes.Add(new RegistryExportNode(path, entries));
        if (element.TryGetProperty("children", out var children))
        {
            if (children.ValueKind != JsonValueKind.Object)
            {
                throw new RegistryImportException($"'children' of '{path}' is not an object.");
            }
            foreach (var child in children.EnumerateObject())
            {
                RegistryPath childPath;
                try
                {
                    childPath = path.Child(child.Name);
                }
                catch (RegistryPathException ex)
                {
                    throw new RegistryImportException(ex.Message, ex);
                }
                Collect(child.Value, childPath, nodes);
            }
        }
    }

    /// <summary>See <see cref="IRegistry.CopyAsync"/>.</summary>
    public static async ValueTask CopyAsync(IRegistry registry, RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        if (source.IsAncestorOrSelf(target))
        {
            throw new ArgumentException($"Cannot copy '{source}' into itself ('{target}').", nameof(target));
        }
        if (await registry.GetStatusAsync(source, cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
        {
            throw new RegistryNodeNotFoundException(source);
        }
        await CopyNodeAsync(registry, source, target, cancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask CopyNodeAsync(IRegistry registry, RegistryPath source, RegistryPath target, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entries = await registry.GetEntriesAsync(source, cancellationToken).ConfigureAwait(false);
        await registry.CreateWithEntriesAsync(target, entries, cancellationToken).ConfigureAwait(false);
        await registry.CopyBlocksAsync(source, target, cancellationToken).ConfigureAwait(false);
        foreach (var child in await registry.GetChildrenAsync(source, includeHidden: true, cancellationToken).ConfigureAwait(false))
        {
            var childSource = source.Child(child);
            if (await registry.GetStatusAsync(childSource, cancellationToken).ConfigureAwait(false) == RegistryNodeStatus.Created)
            {
                await CopyNodeAsync(registry, childSource, target.Child(child), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>See <see cref="IRegistry.MoveAsync"/>: the registry's copy, then a soft delete of the source.</summary>
    public static async ValueTask MoveAsync(IRegistry registry, RegistryPath source, RegistryPath target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        await registry.CopyAsync(source, target, cancellationToken).ConfigureAwait(false);
        await registry.DeleteAsync(source, hard: false, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>One node of a registry export: where it is imported and its values.</summary>
public sealed record RegistryExportNode(RegistryPath Path, IReadOnlyList<RegistryEntry> Entries);
