using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

[Collection(ApiCollection.Name)]
public class FilesTests(ApiFixture fixture)
{
    private HttpClient Admin => fixture.Admin;

    private static byte[] Bytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<HttpResponseMessage> UploadAsync(string path, byte[] content, string contentType = "application/x-test")
    {
        var body = new ByteArrayContent(content);
        body.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await Admin.PutAsync($"/api/files/{path}", body, Ct);
    }

    [Fact]
    public async Task Upload_then_download_is_byte_identical_with_content_type_and_etag()
    {
        var path = $"docs/{Guid.NewGuid():N}/manual.bin";
        var content = Bytes(1_300_000, 1);

        var put = await UploadAsync(path, content);
        var get = await Admin.GetAsync($"/api/files/{path}", Ct);
        var downloaded = await get.Content.ReadAsByteArrayAsync(Ct);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("application/x-test", get.Content.Headers.ContentType?.MediaType);
        Assert.Equal(content, downloaded);
        Assert.NotNull(get.Headers.ETag);
        Assert.False(get.Headers.ETag.IsWeak);
        Assert.Equal("bytes", string.Join(",", get.Headers.AcceptRanges));
    }

    [Fact]
    public async Task Range_requests_return_the_requested_bytes()
    {
        var path = $"r/{Guid.NewGuid():N}";
        var content = Bytes(2_000_000, 2);
        await UploadAsync(path, content);

        foreach (var (from, to) in new[] { (0L, 99L), (524_280L, 524_300L), (1_999_000L, 1_999_999L) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/files/{path}");
            request.Headers.Range = new RangeHeaderValue(from, to);
            var response = await Admin.SendAsync(request, Ct);
            var part = await response.Content.ReadAsByteArrayAsync(Ct);

            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(content[(int)from..(int)(to + 1)], part);
            Assert.Equal(content.Length, response.Content.Headers.ContentRange?.Length);
        }
        using var unsatisfiable = new HttpRequestMessage(HttpMethod.Get, $"/api/files/{path}");
        unsatisfiable.Headers.Range = new RangeHeaderValue(5_000_000, 5_000_010);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, (await Admin.SendAsync(unsatisfiable, Ct)).StatusCode);
    }

    [Fact]
    public async Task Etag_changes_with_the_content_and_if_none_match_gives_304()
    {
        var path = $"e/{Guid.NewGuid():N}";
        await UploadAsync(path, Bytes(1000, 3));
        var first = (await Admin.GetAsync($"/api/files/{path}", Ct)).Headers.ETag!;

        using var conditional = new HttpRequestMessage(HttpMethod.Get, $"/api/files/{path}");
        conditional.Headers.IfNoneMatch.Add(first);
        var notModified = await Admin.SendAsync(conditional, Ct);
        var replaced = Bytes(1000, 4);
        await UploadAsync(path, replaced);
        var second = await Admin.GetAsync($"/api/files/{path}", Ct);

        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.NotEqual(first, second.Headers.ETag);
        Assert.Equal(replaced, await second.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Upload_larger_than_the_json_body_limit_is_accepted()
    {
        var path = $"big/{Guid.NewGuid():N}";
        var content = Bytes(3 * 1024 * 1024, 5);

        var put = await UploadAsync(path, content);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(content.Length, (await put.JsonAsync()).GetProperty("size").GetInt64());
    }

    [Fact]
    public async Task Aborted_upload_leaves_the_previous_file_intact()
    {
        var path = $"abort/{Guid.NewGuid():N}";
        var original = Bytes(200_000, 9);
        await UploadAsync(path, original);

        // The client dies after 1 MiB of a larger body: the server sees the connection reset mid-stream.
        var failing = new StreamContent(new FailingStream(Bytes(4 * 1024 * 1024, 10), failAfter: 1024 * 1024));
        await Assert.ThrowsAnyAsync<Exception>(() => Admin.PutAsync($"/api/files/{path}", failing, Ct));
        var registry = fixture.Host.Get<M2M.Storage.Registry.IRegistry>();
        var uploads = M2M.Storage.Registry.RegistryPath.Parse("/files/.uploads/");
        IReadOnlyList<string> staged;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((staged = await registry.GetChildrenAsync(uploads, includeHidden: true, Ct)).Count > 0 && DateTime.UtcNow < deadline)
        {
            // The server notices the reset and removes the staged copy on its own schedule.
            await Task.Delay(50, Ct);
        }
        var get = await Admin.GetAsync($"/api/files/{path}", Ct);

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(original, await get.Content.ReadAsByteArrayAsync(Ct));
        Assert.Empty(staged);
    }

    /// <summary>Reads like a memory stream, then throws: a client that fails in the middle of an upload.</summary>
    private sealed class FailingStream(byte[] content, int failAfter) : MemoryStream(content, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count) =>
            Position >= failAfter ? throw new IOException("client failed") : base.Read(buffer, offset, Math.Min(count, failAfter - (int)Position));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= failAfter ? throw new IOException("client failed") : base.ReadAsync(buffer[..Math.Min(buffer.Length, failAfter - (int)Position)], cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    [Fact]
    public async Task Delete_removes_the_file()
    {
        var path = $"d/{Guid.NewGuid():N}";
        await UploadAsync(path, Bytes(10, 6));

        var deleted = await Admin.DeleteAsync($"/api/files/{path}", Ct);
        var get = await Admin.GetAsync($"/api/files/{path}", Ct);
        var again = await Admin.DeleteAsync($"/api/files/{path}", Ct);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await get.AssertProblemAsync(404);
        await again.AssertProblemAsync(404);
    }

    [Theory]
    [InlineData("a/.hidden")]
    [InlineData("a//b")]
    public async Task Invalid_path_is_400(string path)
    {
        var response = await UploadAsync(path, [1, 2, 3]);

        await response.AssertProblemAsync(400, "path");
    }

    [Fact]
    public async Task Users_download_but_only_admins_upload_and_delete()
    {
        var path = $"shared/{Guid.NewGuid():N}";
        await UploadAsync(path, [1, 2, 3]);
        var (user, _) = await fixture.Host.NewDomainUserAsync(Admin);

        var get = await user.GetAsync($"/api/files/{path}", Ct);
        var put = await user.PutAsync($"/api/files/{path}", new ByteArrayContent([9]), Ct);
        var delete = await user.DeleteAsync($"/api/files/{path}", Ct);

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
    }

    [Fact]
    public async Task Unknown_file_and_firmware_are_404()
    {
        await (await Admin.GetAsync($"/api/files/none/{Guid.NewGuid():N}", Ct)).AssertProblemAsync(404);
        await (await Admin.GetAsync($"/api/firmware/none-{Guid.NewGuid():N}", Ct)).AssertProblemAsync(404);
        await (await Admin.DeleteAsync($"/api/firmware/none-{Guid.NewGuid():N}", Ct)).AssertProblemAsync(404);
        await (await Admin.PutAsync("/api/firmware/bad%20name", new ByteArrayContent([1]), Ct)).AssertProblemAsync(400, "name");
    }

    [Fact]
    public async Task Firmware_download_has_a_stable_etag_and_content_type()
    {
        var name = $"fw-{Guid.NewGuid():N}";
        var body = new ByteArrayContent(Bytes(5000, 8));
        body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-firmware");
        await Admin.PutAsync($"/api/firmware/{name}", body, Ct);

        var first = await Admin.GetAsync($"/api/firmware/{name}", Ct);
        using var conditional = new HttpRequestMessage(HttpMethod.Get, $"/api/firmware/{name}");
        conditional.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        var second = await Admin.SendAsync(conditional, Ct);

        Assert.Equal("application/x-firmware", first.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
    }

    [Fact]
    public async Task Firmware_is_stored_listed_and_found_by_name()
    {
        var name = $"fw-{Guid.NewGuid():N}.bin";
        var content = Bytes(700_000, 7);

        var put = await Admin.PutAsync($"/api/firmware/{name}", new ByteArrayContent(content), Ct);
        var list = await Admin.GetFromJsonAsync<List<System.Text.Json.JsonElement>>("/api/firmware", Ct);
        var stored = await fixture.Host.Get<M2M.Storage.Files.IFirmwareStore>().FindByNameAsync(name, Ct);
        await using var stream = await fixture.Host.Get<M2M.Storage.Files.IFirmwareStore>().OpenReadAsync(stored!.Id, Ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        var deleted = await Admin.DeleteAsync($"/api/firmware/{name}", Ct);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Contains(list!, f => f.GetProperty("name").GetString() == name);
        Assert.Equal(content.Length, stored.Size);
        Assert.Equal(content, copy.ToArray());
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Null(await fixture.Host.Get<M2M.Storage.Files.IFirmwareStore>().FindByNameAsync(name, Ct));
    }
}
