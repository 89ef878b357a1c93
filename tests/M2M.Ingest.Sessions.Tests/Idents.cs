namespace M2M.Ingest.Sessions.Tests;

/// <summary>Fresh device idents, valid for both protocols, so tests sharing a server never share a device.</summary>
public static class Idents
{
    public static string New() => $"imei:{Guid.NewGuid():N}"[..25];
}
