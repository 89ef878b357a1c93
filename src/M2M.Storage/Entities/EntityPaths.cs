using M2M.Storage.Registry;

namespace M2M.Storage.Entities;

/// <summary>Registry paths and value names of the entities (data-model §4).</summary>
public static class EntityPaths
{
    /// <summary><c>/device/</c>.</summary>
    public static readonly RegistryPath Devices = RegistryPath.Parse("/device/");

    /// <summary><c>/device/by-ident/</c>.</summary>
    public static readonly RegistryPath DevicesByIdent = RegistryPath.Parse("/device/by-ident/");

    /// <summary><c>/device/default/</c>: the rules (e.g. channel translation) every device falls back to.</summary>
    public static readonly RegistryPath DefaultDevice = RegistryPath.Parse("/device/default/");

    /// <summary><c>/device/.deletions/</c>: the device deletion journal (<see cref="DeviceDeletion"/>), one value per device id.</summary>
    public static readonly RegistryPath DeviceDeletions = RegistryPath.Parse("/device/.deletions/");

    /// <summary><c>/.maintenance/</c>: leases and last runs of the storage maintenance jobs (retention, cleanup).</summary>
    public static readonly RegistryPath Maintenance = RegistryPath.Parse("/.maintenance/");

    /// <summary><c>/domain/</c>.</summary>
    public static readonly RegistryPath Domains = RegistryPath.Parse("/domain/");

    /// <summary><c>/domain/by-name/</c>.</summary>
    public static readonly RegistryPath DomainsByName = RegistryPath.Parse("/domain/by-name/");

    /// <summary><c>/user/</c>.</summary>
    public static readonly RegistryPath Users = RegistryPath.Parse("/user/");

    /// <summary><c>/user/by-name/</c>.</summary>
    public static readonly RegistryPath UsersByName = RegistryPath.Parse("/user/by-name/");

    /// <summary><c>/firmware/</c>.</summary>
    public static readonly RegistryPath Firmware = RegistryPath.Parse("/firmware/");

    /// <summary><c>/firmware/by-name/</c>.</summary>
    public static readonly RegistryPath FirmwareByName = RegistryPath.Parse("/firmware/by-name/");

    /// <summary>Value of an index node holding the id it points to.</summary>
    public const string IndexId = "id";

    /// <summary>Version of an entity node (upgrade on read).</summary>
    public const string Version = ".version";

    /// <summary>Soft-deletion time (unix ms), written by the registry.</summary>
    public const string DeletedDate = ".deleted_date";

    /// <summary><c>/device/&lt;id&gt;/</c>.</summary>
    public static RegistryPath Device(Guid id) => Devices.Child(id.ToString("D"));

    /// <summary><c>/device/by-ident/&lt;escaped ident&gt;/</c>.</summary>
    public static RegistryPath DeviceByIdent(string ident) => DevicesByIdent.Child(RegistryPath.EscapeSegment(ident));

    /// <summary><c>/domain/&lt;id&gt;/</c>.</summary>
    public static RegistryPath Domain(Guid id) => Domains.Child(id.ToString("D"));

    /// <summary><c>/domain/by-name/&lt;name&gt;/</c>.</summary>
    public static RegistryPath DomainByName(string name) => DomainsByName.Child(RegistryPath.EscapeSegment(name));

    /// <summary><c>/user/&lt;id&gt;/</c>.</summary>
    public static RegistryPath User(Guid id) => Users.Child(id.ToString("D"));

    /// <summary><c>/user/by-name/&lt;name&gt;/</c>.</summary>
    public static RegistryPath UserByName(string name) => UsersByName.Child(RegistryPath.EscapeSegment(name));

    /// <summary>Ids among child names (skips <c>by-ident</c>, <c>default</c>…), sorted as their names.</summary>
    internal static IEnumerable<Guid> Ids(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (name.Length == 36 && Guid.TryParseExact(name, "D", out var id) && id.ToString("D") == name)
            {
                yield return id;
            }
        }
    }
}
