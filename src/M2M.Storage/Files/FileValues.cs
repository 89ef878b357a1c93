namespace M2M.Storage.Files;

/// <summary>Names of the values of a file node (data-model §3).</summary>
public static class FileValues
{
    /// <summary><c>1</c> on a file node.</summary>
    public const string IsFile = ".is_file";

    /// <summary>Display name.</summary>
    public const string FileName = "fname";

    /// <summary>MIME type.</summary>
    public const string ContentType = "ftype";

    /// <summary>Size in bytes.</summary>
    public const string Size = "fsize";

    /// <summary>Block size in bytes, fixed once set.</summary>
    public const string BlockSize = "blsize";

    /// <summary><c>1</c> once completely written and closed.</summary>
    public const string Complete = "getOk";
}
