using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using M2M.Testing;

namespace M2M.Operations.Tests;

/// <summary>
/// The container image without a container engine: a minimal base image (an OCI layout written here,
/// with the user <c>app</c>) is served by Debian's <c>docker-registry</c> on a loopback port, the server is
/// published onto it with the SDK's container support into an archive
/// (<c>ContainerArchiveOutputPath</c>), and the archive's image configuration is read back.
/// Opt-in (<c>M2M_TEST_CONTAINER=1</c>); then needs <c>docker-registry</c> and <c>skopeo</c> (skipped without
/// them; a failure when <c>M2M_REQUIRE_SERVICES=1</c>).
/// </summary>
public sealed class ContainerImageTests
{
    /// <summary>The environment variable that turns this test on.</summary>
    public const string OptInSwitch = "M2M_TEST_CONTAINER";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_published_image_archive_has_the_servers_entrypoint_ports_user_and_data_directory()
    {
        // Opt-in: a Release publish of the server into an image archive takes minutes, and the image is
        // not part of the build or of any other test (docs/container.md).
        if (Environment.GetEnvironmentVariable(OptInSwitch) != "1")
        {
            Assert.Skip($"The container image test is opt-in: set {OptInSwitch}=1 (needs docker-registry and skopeo, no engine).");
        }
        var registryBinary = Require("docker-registry");
        var skopeo = Require("skopeo");
        using var work = new TempDirectory("m2m-image");
        var layout = Path.Combine(work.Path, "oci");
        WriteBaseLayout(layout);

        var port = FreePort();
        var config = Path.Combine(work.Path, "registry.yml");
        await File.WriteAllTextAsync(config, $"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work.Path}/registry\nhttp:\n  addr: 127.0.0.1:{port}\n", Ct);
        using var registry = Start(registryBinary, "serve", config);
        try
        {
            await WaitForRegistryAsync(port);
            var baseImage = $"localhost:{port}/m2m-test/base:1";
            await RunAsync(skopeo, TimeSpan.FromMinutes(2), "copy", "--dest-tls-verify=false", $"oci:{layout}:1", $"docker://{baseImage}");

            var archive = Path.Combine(work.Path, "m2m-server.tar");
            var project = Path.Combine(RepositoryRoot(), "src", "M2M.Server", "M2M.Server.csproj");
            await RunAsync("dotnet", TimeSpan.FromMinutes(20), "publish", project, "-c", "Release", "-t:PublishContainer", "-nologo", "-v:quiet",
                $"-p:ContainerBaseImage={baseImage}", "-p:ContainerRuntimeIdentifier=linux-x64", $"-p:ContainerArchiveOutputPath={archive}");

            var image = ReadImageConfig(archive);
            var settings = image.GetProperty("config");
            Assert.Equal(["/app/M2M.Server"], settings.GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(["3010/tcp", "3050/tcp", "5080/tcp"], settings.GetProperty("ExposedPorts").EnumerateObject().Select(p => p.Name).Order());
            Assert.Equal("app", settings.GetProperty("User").GetString());
            Assert.Equal("/app", settings.GetProperty("WorkingDir").GetString()!.TrimEnd('/'));
            var env = settings.GetProperty("Env").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("M2M__DataDirectory=/home/app/data", env);
            Assert.Contains("ASPNETCORE_URLS=http://+:5080", env);
        }
        finally
        {
            registry.Kill(entireProcessTree: true);
        }
    }

    /// <summary>The image configuration in a docker-format (manifest.json) or OCI (index.json) archive, plain or gzipped.</summary>
    private static JsonElement ReadImageConfig(string archive)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var bytes = File.ReadAllBytes(archive);
        Stream content = new MemoryStream(bytes);
        if (bytes is [0x1f, 0x8b, ..])
        {
            content = new GZipStream(content, CompressionMode.Decompress);
        }
        using (content)
        using (var tar = new TarReader(content))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is { } data && entry.Length < 1 << 20)
                {
                    using var copy = new MemoryStream();
                    data.CopyTo(copy);
                    files[entry.Name.TrimStart('.', '/')] = copy.ToArray();
                }
            }
        }
        if (files.TryGetValue("manifest.json", out var dockerManifest))
        {
            var configName = JsonDocument.Parse(dockerManifest).RootElement[0].GetProperty("Config").GetString()!;
            return JsonDocument.Parse(files[configName]).RootElement.Clone();
        }
        var index = JsonDocument.Parse(files["index.json"]).RootElement;
        var manifest = JsonDocument.Parse(files[Blob(index.GetProperty("manifests")[0].GetProperty("digest").GetString()!)]).RootElement;
        return JsonDocument.Parse(files[Blob(manifest.GetProperty("config").GetProperty("digest").GetString()!)]).RootElement.Clone();

        static string Blob(string digest) => "blobs/sha256/" + digest["sha256:".Length..];
    }

    /// <summary>An OCI layout of a one-layer base image: /etc/passwd and /etc/group with the user app (1654) and its home.</summary>
    private static void WriteBaseLayout(string layout)
    {
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256"));
        using var layer = new MemoryStream();
        using (var tar = new TarWriter(layer, TarEntryFormat.Pax, leaveOpen: true))
        {
            void Add(string name, string text) => tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.ASCII.GetBytes(text)) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "etc/"));
            Add("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1654:1654::/home/app:/bin/false\n");
            Add("etc/group", "root:x:0:\napp:x:1654:\n");
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "home/"));
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "home/app/") { Uid = 1654, Gid = 1654 });
        }
        var diffId = Convert.ToHexStringLower(SHA256.HashData(layer.ToArray()));
        using var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(layer.ToArray());
        }
        var (layerDigest, layerSize) = WriteBlob(layout, gz.ToArray());
        var (configDigest, configSize) = WriteBlob(layout,
            JsonSerializer.SerializeToUtf8Bytes(new { architecture = "amd64", os = "linux", config = new { Env = new[] { "PATH=/usr/bin:/bin" } }, rootfs = new { type = "layers", diff_ids = new[] { "sha256:" + diffId } } }));
        var (manifestDigest, manifestSize) = WriteBlob(layout,
            JsonSerializer.SerializeToUtf8Bytes(new { schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json", config = new { mediaType = "application/vnd.oci.image.config.v1+json", digest = "sha256:" + configDigest, size = configSize }, layers = new[] { new { mediaType = "application/vnd.oci.image.layer.v1.tar+gzip", digest = "sha256:" + layerDigest, size = layerSize } } }));
        File.WriteAllText(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        File.WriteAllText(Path.Combine(layout, "index.json"),
            JsonSerializer.Serialize(new { schemaVersion = 2, manifests = new[] { new { mediaType = "application/vnd.oci.image.manifest.v1+json", digest = "sha256:" + manifestDigest, size = manifestSize, annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = "1" } } } }));
    }

    private static (string Digest, int Size) WriteBlob(string layout, byte[] bytes)
    {
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", digest), bytes);
        return (digest, bytes.Length);
    }

    private static string Require(string binary)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/bin", "/usr/sbin"]))
        {
            var candidate = Path.Combine(directory, binary);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        var reason = $"{binary} is not installed (apt-get install docker-registry skopeo).";
        if (RequiredServices.Required)
        {
            Assert.Fail(reason);
        }
        Assert.Skip(reason);
        return null!;
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "M2M.Aspire.sln")))
        {
            directory = directory.Parent;
        }
        return directory?.FullName ?? throw new InvalidOperationException("The repository root (M2M.Aspire.sln) is not above the test's directory.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Process Start(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task RunAsync(string file, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited with {process.ExitCode}:\n{await output}\n{await error}");
    }

    private static async Task WaitForRegistryAsync(int port)
    {
        using var client = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                if ((await client.GetAsync($"http://127.0.0.1:{port}/v2/", Ct)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            Assert.True(DateTime.UtcNow < deadline, "The registry did not start.");
            await Task.Delay(100, Ct);
        }
    }
}
