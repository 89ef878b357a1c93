namespace M2M.Storage.Files;

/// <summary>
/// Firmware files: stored at <c>/firmware/&lt;id&gt;/file/</c>; <c>/firmware/by-name/&lt;name&gt;/</c>
/// maps a name to the id of its current version. Storing a name again points it to a new id.
/// </summary>
public interface IFirmwareStore
{
    /// <summary>Maximum length of a firmware name.</summary>
    public const int MaxNameLength = 255;

    /// <summary>Stores <paramref name="content"/> (read to its end) under a new id and maps <paramref name="name"/> to it.</summary>
    /// <exception cref="ArgumentException">Empty, too long or control characters in <paramref name="name"/>.</exception>
    ValueTask<FirmwareInfo> StoreAsync(string name, Stream content, string contentType = "application/octet-stream", CancellationToken cancellationToken = default);

    /// <summary>The firmware currently mapped to <paramref name="name"/>, or <c>null</c>.</summary>
    ValueTask<FirmwareInfo?> FindByNameAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>A firmware by id, or <c>null</c>.</summary>
    ValueTask<FirmwareInfo?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Opens the content of firmware <paramref name="id"/> for reading (seekable).</summary>
    /// <exception cref="StoredFileNotFoundException">Unknown id.</exception>
    ValueTask<Stream> OpenReadAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Every name mapping, sorted by name.</summary>
    ValueTask<IReadOnlyList<FirmwareInfo>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes the name and the firmware it maps to; <c>false</c> when the name is unknown.</summary>
    ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Which domains' devices may read the firmware <paramref name="name"/> (kept across new versions
    /// of the name); <c>null</c> when the name is unknown. A firmware never given an access list is
    /// readable by no domain (<see cref="FirmwareAccess.Nobody"/>).
    /// </summary>
    ValueTask<FirmwareAccess?> GetAccessAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Replaces the access list of <paramref name="name"/>; <c>false</c> when the name is unknown.</summary>
    ValueTask<bool> SetAccessAsync(string name, FirmwareAccess access, CancellationToken cancellationToken = default);

    /// <summary>The firmware <paramref name="name"/> when the devices of <paramref name="domainId"/> may read it, else <c>null</c>.</summary>
    ValueTask<FirmwareInfo?> FindForDomainAsync(string name, Guid domainId, CancellationToken cancellationToken = default);
}

/// <summary>The domains whose devices may read a firmware.</summary>
/// <param name="AllDomains">Every domain (present and future).</param>
/// <param name="DomainIds">The domains, when not <paramref name="AllDomains"/>.</param>
public sealed record FirmwareAccess(bool AllDomains, IReadOnlyList<Guid> DomainIds)
{
    /// <summary>No domain: the default of a firmware without an access list.</summary>
    public static readonly FirmwareAccess Nobody = new(false, []);

    /// <summary>Whether the devices of <paramref name="domainId"/> may read it.</summary>
    public bool Allows(Guid domainId) => AllDomains || DomainIds.Contains(domainId);
}

/// <summary>A stored firmware.</summary>
/// <param name="Id">Its id (<c>/firmware/&lt;id&gt;/</c>).</param>
/// <param name="Name">The name it was stored under.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="ContentType">MIME type.</param>
/// <param name="CreatedAt">When it was stored.</param>
public sealed record FirmwareInfo(Guid Id, string Name, long Size, string ContentType, DateTimeOffset CreatedAt);
