using System.Security.Claims;
using System.Security.Cryptography;
using M2M.Api.Auth;
using M2M.Api.Http;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace M2M.Api.Apis;

/// <summary>
/// <c>/api/files/{**path}</c>: files of any size streamed to and from the chunked file store
/// (registry nodes under <c>/files/</c>), and <c>/api/firmware/{name}</c>: firmware that devices
/// download by name (ALIP <c>F N &lt;name&gt;</c>). Everyone signed in may download files; a domain
/// user sees and downloads only the firmware their domain may use (<see cref="FirmwareAccessApi"/>);
/// only administrators may upload or delete.
/// </summary>
public static class FilesApi
{
    /// <summary>Registry folder of the files of this API.</summary>
    public const string Root = "/files/";

    /// <summary>Registry value holding the strong entity tag (SHA-256 of the content) computed at upload.</summary>
    public const string EntityTagValue = "etag";

    private const string UploadFolder = "/files/.uploads/";
    private const string DefaultContentType = "application/octet-stream";

    public static IEndpointRouteBuilder MapFilesApi(this IEndpointRouteBuilder routes)
    {
        var files = routes.MapGroup("/files").WithTags("Files");
        files.MapGet("", ListAsync).WithName("listFiles").WithSummary("The files and sub-folders of a folder (the root when no folder is given).");
        files.MapPut("/{**path}", UploadAsync).WithName("uploadFile").RequireAuthorization(ApiExtensions.AdminPolicy).WithMetadata(new StreamingUpload())
            .WithSummary("Upload a file (streamed; any size; Content-Type kept).");
        files.MapGet("/{**path}", DownloadAsync).WithName("downloadFile").WithSummary("Download a file (Range requests and ETag supported).");
        files.MapDelete("/{**path}", DeleteAsync).WithName("deleteFile").RequireAuthorization(ApiExtensions.AdminPolicy).WithSummary("Delete a file.");

        var firmware = routes.MapGroup("/firmware").WithTags("Firmware");
        firmware.MapGet("", ListFirmwareAsync).WithName("listFirmware").WithSummary("Every firmware name.");
        firmware.MapGet("/{name}", DownloadFirmwareAsync).WithName("downloadFirmware").WithSummary("Download a firmware file by name (Range requests and ETag supported).");
        firmware.MapPut("/{name}", UploadFirmwareAsync).WithName("uploadFirmware").RequireAuthorization(ApiExtensions.AdminPolicy).WithMetadata(new StreamingUpload())
            .WithSummary("Store a firmware file under a name that devices can ask for.");
        firmware.MapDelete("/{name}", DeleteFirmwareAsync).WithName("deleteFirmware").RequireAuthorization(ApiExtensions.AdminPolicy).WithSummary("Remove a firmware name and its file.");
        return routes;
    }

    /// <summary>The registry node of an API file path; <c>false</c> for an empty, hidden or otherwise invalid path.</summary>
    internal static bool TryNode(string? path, out RegistryPath node, out string error)
    {
        node = RegistryPath.Root;
        error = "";
        if (string.IsNullOrEmpty(path))
        {
            error = "A file path is required.";
            return false;
        }
        var segments = path.Split('/');
        foreach (var segment in segments)
        {
            if (segment.StartsWith('.'))
            {
                error = "Segments may not be empty or start with '.'.";
                return false;
            }
        }
        if (!RegistryPath.TryParse(Root + path, out node))
        {
            error = "Not a valid file path (empty segment, control character or too long).";
            return false;
        }
        return true;
    }

    /// <summary>Most entries one folder listing returns.</summary>
    public const int MaxListed = 10_000;

    internal static async Task<Results<Ok<FolderView>, NotFound, ValidationProblem>> ListAsync(IFileStore files, IRegistry registry, CancellationToken cancellationToken, string? folder = null)
    {
        var node = RegistryPath.Parse(Root);
        var prefix = "";
        if (!string.IsNullOrEmpty(folder))
        {
            if (!TryNode(folder.Trim('/'), out node, out var error))
            {
                return Validation.Problem("folder", error);
            }
            if (await registry.GetStatusAsync(node, cancellationToken) != RegistryNodeStatus.Created)
            {
                return TypedResults.NotFound();
            }
            prefix = folder.Trim('/') + "/";
        }
        var entries = new List<FileEntryView>();
        // Hidden names (the upload staging folder) are not listed.
        foreach (var name in await registry.GetChildrenAsync(node, cancellationToken: cancellationToken))
        {
            if (entries.Count == MaxListed)
            {
                break;
            }
            var child = RegistryPath.Parse($"{node.Value}{name}/");
            var info = await files.GetInfoAsync(child, cancellationToken);
            if (info is null)
            {
                entries.Add(new FileEntryView(prefix + name, name, IsFolder: true, null, null, null));
            }
            else if (info.IsComplete)
            {
                var etag = await registry.GetValueAsync(child, EntityTagValue, cancellationToken);
                entries.Add(new FileEntryView(prefix + name, name, IsFolder: false, info.ContentType, info.Size, etag));
            }
        }
        return TypedResults.Ok(new FolderView(prefix.TrimEnd('/'), entries));
    }

    internal static async Task<Results<Created<FileView>, ValidationProblem>> UploadAsync(string path, HttpRequest request, IFileStore files, IRegistry registry, CancellationToken cancellationToken)
    {
        if (!TryNode(path, out var node, out var error))
        {
            return Validation.Problem("path", error);
        }
        var contentType = string.IsNullOrEmpty(request.ContentType) ? DefaultContentType : request.ContentType;
        if (contentType.Length > 255 || contentType.Any(char.IsControl))
        {
            return Validation.Problem("Content-Type", "Not a valid media type.");
        }

        // Written aside first and moved in place only when complete: an aborted upload leaves the old file intact.
        var staging = RegistryPath.Parse(UploadFolder + Guid.NewGuid().ToString("N"));
        string etag;
        long size;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var target = await files.CreateAsync(staging, node.Name, contentType, cancellationToken: cancellationToken))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await request.Body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                size = target.Length;
            }
            etag = $"\"{Convert.ToHexStringLower(hash.GetHashAndReset())}\"";
            await registry.SetValueAsync(staging, EntityTagValue, etag, cancellationToken: CancellationToken.None);
            await files.DeleteAsync(node, CancellationToken.None);
            await registry.MoveAsync(staging, node, CancellationToken.None);
        }
        finally
        {
            await registry.DeleteAsync(staging, hard: true, CancellationToken.None);
        }
        return TypedResults.Created($"/api/files/{path}", new FileView(path, node.Name, contentType, size, etag));
    }

    internal static async Task<Results<FileStreamHttpResult, NotFound, ValidationProblem>> DownloadAsync(string path, IFileStore files, IRegistry registry, CancellationToken cancellationToken)
    {
        if (!TryNode(path, out var node, out var error))
        {
            return Validation.Problem("path", error);
        }
        var info = await files.GetInfoAsync(node, cancellationToken);
        if (info is null || !info.IsComplete)
        {
            return TypedResults.NotFound();
        }
        var tag = await registry.GetValueAsync(node, EntityTagValue, cancellationToken) is { } stored
            ? new EntityTagHeaderValue(stored)
            : new EntityTagHeaderValue($"\"{info.Size:x}\"", isWeak: true);
        var stream = await files.OpenReadAsync(node, cancellationToken);
        return TypedResults.File(stream, info.ContentType, fileDownloadName: null, entityTag: tag, enableRangeProcessing: true);
    }

    internal static async Task<Results<NoContent, NotFound, ValidationProblem>> DeleteAsync(string path, IFileStore files, CancellationToken cancellationToken)
    {
        if (!TryNode(path, out var node, out var error))
        {
            return Validation.Problem("path", error);
        }
        return await files.DeleteAsync(node, cancellationToken) ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    /// <summary>Every firmware for an administrator; for anyone else, the firmware their domain's devices may read.</summary>
    internal static async Task<Ok<IReadOnlyList<FirmwareInfo>>> ListFirmwareAsync(IFirmwareStore firmware, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var all = await firmware.ListAsync(cancellationToken);
        var caller = Caller.From(user);
        if (caller.IsAdmin)
        {
            return TypedResults.Ok(all);
        }
        var visible = new List<FirmwareInfo>();
        foreach (var info in all)
        {
            if (await firmware.GetAccessAsync(info.Name, cancellationToken) is { } access && access.Allows(caller.DomainId))
            {
                visible.Add(info);
            }
        }
        return TypedResults.Ok<IReadOnlyList<FirmwareInfo>>(visible);
    }

    internal static async Task<Results<Created<FirmwareInfo>, ValidationProblem>> UploadFirmwareAsync(string name, HttpRequest request, IFirmwareStore firmware, CancellationToken cancellationToken)
    {
        if (Validation.CheckDeviceText(name, IFirmwareStore.MaxNameLength, allowSpaces: false) is { } error)
        {
            return Validation.Problem("name", error);
        }
        var contentType = string.IsNullOrEmpty(request.ContentType) ? DefaultContentType : request.ContentType;
        if (contentType.Length > 255 || contentType.Any(char.IsControl))
        {
            return Validation.Problem("Content-Type", "Not a valid media type.");
        }
        var info = await firmware.StoreAsync(name, request.Body, contentType, cancellationToken);
        return TypedResults.Created($"/api/firmware/{Uri.EscapeDataString(name)}", info);
    }

    internal static async Task<Results<FileStreamHttpResult, NotFound>> DownloadFirmwareAsync(string name, IFirmwareStore firmware, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (name.Length > IFirmwareStore.MaxNameLength || name.Any(char.IsControl))
        {
            return TypedResults.NotFound();
        }
        // A firmware its domain's devices may not read does not exist for a domain user.
        var caller = Caller.From(user);
        var info = caller.IsAdmin
            ? await firmware.FindByNameAsync(name, cancellationToken)
            : await firmware.FindForDomainAsync(name, caller.DomainId, cancellationToken);
        if (info is null)
        {
            return TypedResults.NotFound();
        }
        // A stored firmware never changes: storing the name again makes a new id.
        var stream = await firmware.OpenReadAsync(info.Id, cancellationToken);
        return TypedResults.File(stream, info.ContentType, fileDownloadName: null, lastModified: info.CreatedAt,
            entityTag: new EntityTagHeaderValue($"\"{info.Id:N}\""), enableRangeProcessing: true);
    }

    internal static async Task<Results<NoContent, NotFound>> DeleteFirmwareAsync(string name, IFirmwareStore firmware, CancellationToken cancellationToken) =>
        await firmware.DeleteAsync(name, cancellationToken) ? TypedResults.NoContent() : TypedResults.NotFound();
}

/// <summary>A folder of files: its path (empty for the root) and entries, sorted by name.</summary>
public sealed record FolderView(string Folder, IReadOnlyList<FileEntryView> Items);

/// <summary>An entry of a folder: a file (type, size, entity tag) or a sub-folder.</summary>
public sealed record FileEntryView(string Path, string Name, bool IsFolder, string? ContentType, long? Size, string? ETag);

/// <summary>A stored file.</summary>
public sealed record FileView(string Path, string Name, string ContentType, long Size, string ETag);
