namespace M2M.Storage;

/// <summary>Where and how the embedded storage keeps its data (configuration section <c>M2M</c>).</summary>
public sealed class StorageOptions
{
    public const string Section = "M2M";

    /// <summary>Configuration key naming the storage backend: <c>rocks</c> (default) or <c>postgres</c>.</summary>
    public const string BackendKey = "M2M:Storage:Backend";

    /// <summary>Name of the connection string of a shared database backend (<c>ConnectionStrings:m2mdb</c>, as Aspire sets it).</summary>
    public const string ConnectionStringName = "m2mdb";

    /// <summary>Directory of the embedded database and generated keys; relative paths are taken from the working directory.</summary>
    public string DataDirectory { get; set; } = "./data";

    /// <summary>The data directory as an absolute path.</summary>
    public string FullDataDirectory => Path.GetFullPath(DataDirectory);
}
