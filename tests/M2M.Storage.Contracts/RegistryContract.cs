using System.Text.Json;
using M2M.Storage.Registry;

namespace M2M.Storage.Contracts;

/// <summary>The behaviour every <see cref="IRegistry"/> backend must have.</summary>
public abstract class RegistryContract : IDisposable
{
    protected ManualTimeProvider Time { get; } = new();

    private readonly Lazy<IRegistry> _registry;

    protected RegistryContract() => _registry = new(() => CreateRegistry(Time));

    protected IRegistry Registry => _registry.Value;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A fresh, empty registry using <paramref name="time"/> as its clock.</summary>
    protected abstract IRegistry CreateRegistry(TimeProvider time);

    public abstract void Dispose();

    private static RegistryPath P(string path) => RegistryPath.Parse(path);

    [Fact]
    public async Task Create_marks_the_node_created_ensures_ancestors_and_links_it_to_its_parent()
    {
        await Registry.CreateAsync(P("/a/b/c/"), cancellationToken: Ct);

        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/a/b/c/"), Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/a/b/"), Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/a/"), Ct));
        Assert.Equal(["c"], await Registry.GetChildrenAsync(P("/a/b/"), cancellationToken: Ct));
        Assert.Equal(["a"], await Registry.GetChildrenAsync(RegistryPath.Root, cancellationToken: Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/a/x/"), Ct));
    }

    [Fact]
    public async Task Create_with_values_writes_them_with_the_node()
    {
        await Registry.CreateAsync(P("/n/"), new Dictionary<string, string> { ["k"] = "v", ["j"] = "w" }, Ct);
        Assert.Equal(new Dictionary<string, string> { ["j"] = "w", ["k"] = "v" }, await Registry.GetValuesAsync(P("/n/"), Ct));
    }

    [Fact]
    public async Task Check_creates_undefined_and_deleted_nodes_and_leaves_created_ones()
    {
        Assert.True(await Registry.CheckAsync(P("/x/y/"), Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/x/y/"), Ct));
        Assert.False(await Registry.CheckAsync(P("/x/y/"), Ct));

        await Registry.SetValueAsync(P("/x/y/"), "old", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/x/y/"), cancellationToken: Ct);
        Assert.True(await Registry.CheckAsync(P("/x/y/"), Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/x/y/"), Ct));
        Assert.Empty(await Registry.GetValuesAsync(P("/x/y/"), Ct));
        Assert.Equal(["y"], await Registry.GetChildrenAsync(P("/x/"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Values_are_set_read_listed_and_deleted_one_by_one_and_many_at_once()
    {
        var node = P("/v/");
        await Registry.SetValueAsync(node, "a", "1", cancellationToken: Ct);
        await Registry.SetValuesAsync(node, new Dictionary<string, string> { ["b"] = "2", ["c"] = "3" }, cancellationToken: Ct);
        await Registry.SetValueAsync(node, "a", "one", cancellationToken: Ct);

        Assert.Equal("one", await Registry.GetValueAsync(node, "a", Ct));
        Assert.Null(await Registry.GetValueAsync(node, "zz", Ct));
        Assert.Equal(3, (await Registry.GetValuesAsync(node, Ct)).Count);
        Assert.Equal(new Dictionary<string, string> { ["b"] = "2", ["c"] = "3" }, await Registry.GetValuesAsync(node, ["b", "c", "missing"], Ct));

        Assert.True(await Registry.DeleteValueAsync(node, "a", Ct));
        Assert.False(await Registry.DeleteValueAsync(node, "a", Ct));
        await Registry.DeleteValuesAsync(node, ["b", "c"], Ct);
        Assert.Empty(await Registry.GetValuesAsync(node, Ct));
    }

    [Fact]
    public async Task Setting_a_value_on_a_never_created_node_creates_it_with_its_ancestors()
    {
        await Registry.SetValueAsync(P("/auto/deep/node/"), "k", "v", cancellationToken: Ct);
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/auto/deep/node/"), Ct));
        Assert.Equal(["deep"], await Registry.GetChildrenAsync(P("/auto/"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Writing_below_a_soft_deleted_node_is_refused_instead_of_reviving_it()
    {
        await Registry.SetValueAsync(P("/dev/1/settings/"), "a", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/dev/1/"), cancellationToken: Ct);

        await Assert.ThrowsAsync<RegistryNodeNotFoundException>(() => Registry.SetValueAsync(P("/dev/1/settings/"), "b", "2", cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<RegistryNodeNotFoundException>(() => Registry.SetValueAsync(P("/dev/1/status/"), "b", "2", cancellationToken: Ct).AsTask());
        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(P("/dev/1/"), Ct));
    }

    [Fact]
    public async Task A_value_may_hold_any_text_including_control_characters_and_U0000()
    {
        var node = P("/any/");
        const string Value = "a\0b\u0001\r\n\u00e9\U0001F600 end";

        await Registry.SetValueAsync(node, "v", Value, cancellationToken: Ct);
        await Registry.WriteAsync(new RegistryBatch().SetValue(node, "w", Value), Ct);

        Assert.Equal(Value, await Registry.GetValueAsync(node, "v", Ct));
        Assert.Equal(Value, (await Registry.GetValuesAsync(node, Ct))["w"]);
        Assert.True(await Registry.CompareAndSetValueAsync(node, "v", Value, "next", Ct));
        Assert.True(await Registry.TryWriteAsync(new RegistryBatch().Expect(node, "w", Value).SetValue(node, "w", "next"), Ct));
        Assert.Equal("next", await Registry.GetValueAsync(node, "w", Ct));
    }

    [Fact]
    public async Task A_value_with_a_time_to_live_reads_as_absent_once_expired()
    {
        var node = P("/ttl/");
        await Registry.SetValueAsync(node, "short", "s", TimeSpan.FromSeconds(10), Ct);
        await Registry.SetValueAsync(node, "long", "l", TimeSpan.FromHours(1), Ct);
        await Registry.SetValueAsync(node, "forever", "f", cancellationToken: Ct);

        Time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal("s", await Registry.GetValueAsync(node, "short", Ct));
        Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await Registry.GetValueAsync(node, "short", Ct));
        Assert.Equal(["forever", "long"], (await Registry.GetValuesAsync(node, Ct)).Keys.Order(StringComparer.Ordinal));
        Assert.False(await Registry.CompareAndSetValueAsync(node, "short", "s", "t", Ct));
        Assert.True(await Registry.CompareAndSetValueAsync(node, "short", null, "t", Ct));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Registry.SetValueAsync(node, "x", "y", TimeSpan.Zero, Ct).AsTask());
    }

    [Fact]
    public async Task Hidden_children_are_listed_only_when_asked()
    {
        await Registry.CreateAsync(P("/h/visible/"), cancellationToken: Ct);
        await Registry.CreateAsync(P("/h/.hidden/"), cancellationToken: Ct);

        Assert.Equal(["visible"], await Registry.GetChildrenAsync(P("/h/"), cancellationToken: Ct));
        Assert.Equal([".hidden", "visible"], await Registry.GetChildrenAsync(P("/h/"), includeHidden: true, Ct));
    }

    [Fact]
    public async Task Soft_delete_takes_the_subtree_out_of_the_tree_records_the_date_and_keeps_the_data()
    {
        await Registry.SetValueAsync(P("/s/node/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/s/node/child/"), "c", "1", cancellationToken: Ct);

        Assert.True(await Registry.DeleteAsync(P("/s/node/"), cancellationToken: Ct));

        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(P("/s/node/"), Ct));
        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(P("/s/node/child/"), Ct));
        Assert.Empty(await Registry.GetChildrenAsync(P("/s/"), cancellationToken: Ct));
        Assert.Equal("v", await Registry.GetValueAsync(P("/s/node/"), "k", Ct));
        Assert.Equal(Time.GetUtcNow().ToUnixTimeMilliseconds(), await Registry.GetInt64Async(P("/s/node/"), ".deleted_date", Ct));
        Assert.False(await Registry.DeleteAsync(P("/s/node/"), cancellationToken: Ct));
        Assert.False(await Registry.DeleteAsync(P("/s/never/"), cancellationToken: Ct));
    }

    [Fact]
    public async Task Real_delete_removes_every_row_of_the_subtree()
    {
        await Registry.SetValueAsync(P("/r/node/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/r/node/child/"), "c", "1", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/r/nodex/"), "keep", "1", cancellationToken: Ct);

        Assert.True(await Registry.DeleteAsync(P("/r/node/"), hard: true, Ct));

        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/r/node/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/r/node/child/"), Ct));
        Assert.Null(await Registry.GetValueAsync(P("/r/node/"), "k", Ct));
        Assert.Empty(await Registry.GetValuesAsync(P("/r/node/child/"), Ct));
        Assert.Equal(["nodex"], await Registry.GetChildrenAsync(P("/r/"), cancellationToken: Ct));
        Assert.Equal("1", await Registry.GetValueAsync(P("/r/nodex/"), "keep", Ct));
    }

    [Fact]
    public async Task The_root_cannot_be_deleted()
        => await Assert.ThrowsAsync<ArgumentException>(() => Registry.DeleteAsync(RegistryPath.Root, cancellationToken: Ct).AsTask());

    [Fact]
    public async Task Cleanup_removes_soft_deleted_subtrees_for_real_and_drops_expired_values()
    {
        await Registry.SetValueAsync(P("/c/gone/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/c/gone/sub/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/c/also/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/c/live/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/c/live/"), "tmp", "t", TimeSpan.FromSeconds(1), Ct);
        await Registry.DeleteAsync(P("/c/gone/"), cancellationToken: Ct);
        await Registry.DeleteAsync(P("/c/also/"), cancellationToken: Ct);
        Time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(2, await Registry.CleanupAsync(Ct));

        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/c/gone/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/c/gone/sub/"), Ct));
        Assert.Null(await Registry.GetValueAsync(P("/c/gone/"), "k", Ct));
        Assert.Equal(new Dictionary<string, string> { ["k"] = "v" }, await Registry.GetValuesAsync(P("/c/live/"), Ct));
        Assert.Equal(0, await Registry.CleanupAsync(Ct));
    }

    [Fact]
    public async Task Cleanup_with_a_grace_period_removes_only_nodes_deleted_before_it()
    {
        await Registry.SetValueAsync(P("/g/old/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/g/old/sub/"), "k", "v", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/g/recent/"), "k", "v", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/g/old/"), cancellationToken: Ct);
        Time.Advance(TimeSpan.FromHours(2));
        await Registry.DeleteAsync(P("/g/recent/"), cancellationToken: Ct);
        Time.Advance(TimeSpan.FromMinutes(30));

        // Grace period of one hour: "old" was deleted 2.5 h ago, "recent" 30 min ago.
        Assert.Equal(1, await Registry.CleanupAsync(Time.GetUtcNow() - TimeSpan.FromHours(1), Ct));

        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/g/old/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/g/old/sub/"), Ct));
        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(P("/g/recent/"), Ct));
        Assert.Equal("v", await Registry.GetValueAsync(P("/g/recent/"), "k", Ct));
        Assert.NotNull(await Registry.GetValueAsync(P("/g/recent/"), ".deleted_date", Ct));

        Time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, await Registry.CleanupAsync(Time.GetUtcNow() - TimeSpan.FromHours(1), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/g/recent/"), Ct));
        Assert.Equal(0, await Registry.CleanupAsync(Time.GetUtcNow() - TimeSpan.FromHours(1), Ct));
    }

    [Fact]
    public async Task Cleanup_with_a_grace_period_still_drops_expired_values()
    {
        await Registry.SetValueAsync(P("/gv/"), "tmp", "t", TimeSpan.FromSeconds(1), Ct);
        await Registry.SetValueAsync(P("/gv/"), "kept", "k", cancellationToken: Ct);
        Time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(0, await Registry.CleanupAsync(Time.GetUtcNow() - TimeSpan.FromDays(7), Ct));

        Assert.Equal(new RegistryEntry("kept", "k", 0), Assert.Single(await Registry.GetEntriesAsync(P("/gv/"), Ct)));
    }

    [Fact]
    public async Task Creating_a_soft_deleted_node_again_starts_it_empty()
    {
        await Registry.SetValueAsync(P("/re/n/"), "old", "1", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/re/n/child/"), "old", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/re/n/"), cancellationToken: Ct);

        await Registry.CreateAsync(P("/re/n/"), new Dictionary<string, string> { ["new"] = "2" }, Ct);

        Assert.Equal(new Dictionary<string, string> { ["new"] = "2" }, await Registry.GetValuesAsync(P("/re/n/"), Ct));
        Assert.Empty(await Registry.GetChildrenAsync(P("/re/n/"), true, Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/re/n/child/"), Ct));
        Assert.Equal(0, await Registry.CleanupAsync(Ct));
        Assert.Equal("2", await Registry.GetValueAsync(P("/re/n/"), "new", Ct));
    }

    [Fact]
    public async Task Typed_values_round_trip_in_their_documented_text_forms()
    {
        var node = P("/typed/");
        var time = new DateTimeOffset(2024, 2, 29, 23, 59, 58, 123, TimeSpan.Zero);
        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        await Registry.SetInt64Async(node, "i", -9_000_000_000, cancellationToken: Ct);
        await Registry.SetDoubleAsync(node, "d", 0.1 + 0.2, cancellationToken: Ct);
        await Registry.SetBoolAsync(node, "t", true, cancellationToken: Ct);
        await Registry.SetBoolAsync(node, "f", false, cancellationToken: Ct);
        await Registry.SetTimeAsync(node, "time", time, cancellationToken: Ct);
        await Registry.SetGuidAsync(node, "id", id, cancellationToken: Ct);

        Assert.Equal(-9_000_000_000, await Registry.GetInt64Async(node, "i", Ct));
        Assert.Equal(0.1 + 0.2, await Registry.GetDoubleAsync(node, "d", Ct));
        Assert.True(await Registry.GetBoolAsync(node, "t", Ct));
        Assert.False(await Registry.GetBoolAsync(node, "f", Ct));
        Assert.Equal(time, await Registry.GetTimeAsync(node, "time", Ct));
        Assert.Equal(id, await Registry.GetGuidAsync(node, "id", Ct));
        Assert.Null(await Registry.GetInt64Async(node, "absent", Ct));

        var raw = await Registry.GetValuesAsync(node, Ct);
        Assert.Equal("1", raw["t"]);
        Assert.Equal("0", raw["f"]);
        Assert.Equal("1709251198123", raw["time"]);
        Assert.Equal("0f8fad5b-d9cb-469f-a165-70867728950e", raw["id"]);
    }

    [Fact]
    public async Task Reading_a_value_as_the_wrong_type_is_a_typed_format_error()
    {
        var node = P("/typed/");
        await Registry.SetValueAsync(node, "text", "abc", cancellationToken: Ct);
        await Registry.SetValueAsync(node, "yes", "true", cancellationToken: Ct);

        await Assert.ThrowsAsync<RegistryValueFormatException>(() => Registry.GetInt64Async(node, "text", Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueFormatException>(() => Registry.GetDoubleAsync(node, "text", Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueFormatException>(() => Registry.GetBoolAsync(node, "yes", Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueFormatException>(() => Registry.GetTimeAsync(node, "text", Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueFormatException>(() => Registry.GetGuidAsync(node, "text", Ct).AsTask());
    }

    [Fact]
    public async Task Oversize_values_and_names_are_refused_with_typed_errors_and_nothing_is_written()
    {
        var node = P("/big/");
        await Registry.SetValueAsync(node, "v", "small", cancellationToken: Ct);
        var tooBig = new string('x', RegistryLimits.MaxValueBytes + 1);
        var multiByte = new string('é', RegistryLimits.MaxValueBytes / 2 + 1); // 2 bytes each in UTF-8

        var error = await Assert.ThrowsAsync<RegistryValueTooLargeException>(() => Registry.SetValueAsync(node, "v", tooBig, cancellationToken: Ct).AsTask());
        Assert.Equal(RegistryLimits.MaxValueBytes + 1, error.Bytes);
        await Assert.ThrowsAsync<RegistryValueTooLargeException>(() => Registry.SetValueAsync(node, "v", multiByte, cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueTooLargeException>(() => Registry.SetValuesAsync(node, new Dictionary<string, string> { ["ok"] = "1", ["v"] = tooBig }, cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueNameException>(() => Registry.SetValueAsync(node, new string('n', RegistryLimits.MaxNameBytes + 1), "1", cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueNameException>(() => Registry.SetValueAsync(node, "", "1", cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<RegistryValueNameException>(() => Registry.SetValueAsync(node, "bad\nname", "1", cancellationToken: Ct).AsTask());

        Assert.Equal(new Dictionary<string, string> { ["v"] = "small" }, await Registry.GetValuesAsync(node, Ct));
        await Registry.SetValueAsync(node, "max", new string('x', RegistryLimits.MaxValueBytes), cancellationToken: Ct);
        Assert.Equal(RegistryLimits.MaxValueBytes, (await Registry.GetValueAsync(node, "max", Ct))!.Length);
    }

    [Fact]
    public async Task Concurrent_writers_of_different_values_of_one_node_lose_nothing()
    {
        var node = P("/device/shared/");
        await Registry.CreateAsync(node, cancellationToken: Ct);
        const int writers = 8, perWriter = 150;

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                await Registry.SetValueAsync(node, $"w{w}-{i}", $"{w}:{i}", cancellationToken: Ct);
            }
        }, Ct)));

        var values = await Registry.GetValuesAsync(node, Ct);
        Assert.Equal(writers * perWriter, values.Count);
        Assert.All(Enumerable.Range(0, writers), w => Assert.Equal($"{w}:{perWriter - 1}", values[$"w{w}-{perWriter - 1}"]));
    }

    [Fact]
    public async Task Compare_and_set_lets_exactly_one_of_many_concurrent_claims_win()
    {
        var node = P("/index/name/");
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(
            async () => await Registry.CompareAndSetValueAsync(node, "id", null, $"claim-{i}", Ct), Ct)));

        Assert.Single(results, r => r);
        var winner = Array.IndexOf(results, true);
        Assert.Equal($"claim-{winner}", await Registry.GetValueAsync(node, "id", Ct));
        Assert.False(await Registry.CompareAndSetValueAsync(node, "id", "other", "x", Ct));
        Assert.True(await Registry.CompareAndSetValueAsync(node, "id", $"claim-{winner}", null, Ct));
        Assert.Null(await Registry.GetValueAsync(node, "id", Ct));
    }

    [Fact]
    public async Task A_batch_writes_and_deletes_values_on_several_nodes()
    {
        await Registry.SetValueAsync(P("/b/one/"), "gone", "1", cancellationToken: Ct);
        await Registry.WriteAsync(new RegistryBatch()
            .SetValue(P("/b/one/"), "a", "1")
            .SetValue(P("/b/two/"), "b", "2", TimeSpan.FromMinutes(1))
            .DeleteValue(P("/b/one/"), "gone"), Ct);

        Assert.Equal(new Dictionary<string, string> { ["a"] = "1" }, await Registry.GetValuesAsync(P("/b/one/"), Ct));
        Assert.Equal("2", await Registry.GetValueAsync(P("/b/two/"), "b", Ct));
        Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(await Registry.GetValueAsync(P("/b/two/"), "b", Ct));
        Assert.Throws<RegistryValueTooLargeException>(() => new RegistryBatch().SetValue(P("/b/"), "x", new string('x', RegistryLimits.MaxValueBytes + 1)));
    }

    [Fact]
    public async Task A_conditional_batch_applies_whole_only_when_every_expected_value_is_live_and_equal()
    {
        var state = P("/cmd/log/1/");
        var queue = P("/cmd/queue/");
        await Registry.WriteAsync(new RegistryBatch()
            .SetValue(state, "state", "Sent")
            .SetValue(queue, "1", "reboot")
            .SetValue(P("/cmd/flag/"), "on", "yes", TimeSpan.FromMinutes(1)), Ct);
        RegistryBatch Ack(string expected) => new RegistryBatch()
            .Expect(state, "state", expected)
            .SetValue(state, "state", "Acknowledged")
            .SetValue(P("/cmd/response/"), "1", "ok")
            .DeleteValue(queue, "1");

        Assert.False(await Registry.TryWriteAsync(Ack("Pending"), Ct));
        Assert.False(await Registry.TryWriteAsync(Ack("Sent").Expect(P("/cmd/other/"), "x", "1"), Ct));
        Assert.False(await Registry.TryWriteAsync(Ack("Sent").Expect(state, "state", "Pending"), Ct));
        Assert.Equal("Sent", await Registry.GetValueAsync(state, "state", Ct));
        Assert.Equal("reboot", await Registry.GetValueAsync(queue, "1", Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/cmd/response/"), Ct));

        // A condition on a node the batch does not write, the same one twice; the node written to is created with it.
        Assert.True(await Registry.TryWriteAsync(Ack("Sent").Expect(P("/cmd/flag/"), "on", "yes").Expect(state, "state", "Sent"), Ct));
        Assert.Equal("Acknowledged", await Registry.GetValueAsync(state, "state", Ct));
        Assert.Equal("ok", await Registry.GetValueAsync(P("/cmd/response/"), "1", Ct));
        Assert.Null(await Registry.GetValueAsync(queue, "1", Ct));
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(P("/cmd/response/"), Ct));
        Assert.False(await Registry.TryWriteAsync(Ack("Sent"), Ct));

        // An expired value is absent: it never matches the value it had.
        Time.Advance(TimeSpan.FromMinutes(2));
        Assert.False(await Registry.TryWriteAsync(new RegistryBatch().Expect(P("/cmd/flag/"), "on", "yes").SetValue(state, "state", "x"), Ct));
        Assert.Equal("Acknowledged", await Registry.GetValueAsync(state, "state", Ct));
    }

    [Fact]
    public async Task A_conditional_batch_below_a_soft_deleted_node_is_refused_even_when_its_conditions_hold()
    {
        var state = P("/dev/1/log/a/");
        await Registry.SetValueAsync(state, "state", "Sent", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/dev/1/"), cancellationToken: Ct);

        await Assert.ThrowsAsync<RegistryNodeNotFoundException>(() => Registry.TryWriteAsync(new RegistryBatch()
            .Expect(state, "state", "Sent").SetValue(state, "state", "Acknowledged"), Ct).AsTask());
        Assert.Equal("Sent", await Registry.GetValueAsync(state, "state", Ct));
        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(state, Ct));
    }

    [Fact]
    public async Task A_batch_expecting_a_created_node_applies_only_while_it_is_created()
    {
        var device = P("/dev/7/");
        RegistryBatch Queue(string id) => new RegistryBatch().ExpectCreated(device).SetValue(device.Child("log").Child(id), "text", id).SetValue(device.Child("queue"), id, id);

        // Never created: nothing written, and no node created for it.
        Assert.False(await Registry.TryWriteAsync(Queue("a"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(device, Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Registry.WriteAsync(Queue("a"), Ct).AsTask());

        await Registry.CreateAsync(device, cancellationToken: Ct);
        Assert.True(await Registry.TryWriteAsync(Queue("b"), Ct));
        Assert.True(await Registry.TryWriteAsync(Queue("c").Expect(device.Child("log").Child("b"), "text", "b"), Ct));
        Assert.Equal(["b", "c"], await Registry.GetChildrenAsync(device.Child("log"), cancellationToken: Ct));

        // Soft-deleted: refused as a condition (false), not as a write below a deleted node (exception).
        await Registry.DeleteAsync(device, cancellationToken: Ct);
        Assert.False(await Registry.TryWriteAsync(Queue("d"), Ct));
        Assert.False(await Registry.TryWriteAsync(Queue("e").Expect(device.Child("log").Child("b"), "text", "b"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(device.Child("log").Child("d"), Ct));
        Assert.Equal(new Dictionary<string, string> { ["b"] = "b", ["c"] = "c" }, await Registry.GetValuesAsync(device.Child("queue"), Ct));
    }

    [Fact]
    public async Task Values_if_created_are_the_values_of_a_created_node_and_null_otherwise()
    {
        var node = P("/ent/1/");
        Assert.Null(await Registry.GetValuesIfCreatedAsync(node, Ct));

        await Registry.CreateAsync(node, cancellationToken: Ct);
        Assert.Empty((await Registry.GetValuesIfCreatedAsync(node, Ct))!);

        await Registry.SetValueAsync(node, "name", "one", cancellationToken: Ct);
        await Registry.SetValueAsync(node, ".version", "2", cancellationToken: Ct);
        await Registry.SetValueAsync(node, "token", "t", TimeSpan.FromMinutes(1), Ct);
        Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(new Dictionary<string, string> { [".version"] = "2", ["name"] = "one" }, await Registry.GetValuesIfCreatedAsync(node, Ct));
        await Registry.SetValueAsync(RegistryPath.Root, "r", "1", cancellationToken: Ct);
        Assert.Equal("1", (await Registry.GetValuesIfCreatedAsync(RegistryPath.Root, Ct))!["r"]);

        await Registry.DeleteAsync(node, cancellationToken: Ct);
        Assert.Null(await Registry.GetValuesIfCreatedAsync(node, Ct));
        Assert.Null(await Registry.GetValuesIfCreatedAsync(node.Child("below"), Ct));
    }

    [Fact]
    public async Task Concurrent_read_modify_writes_conditional_on_the_value_read_lose_no_update()
    {
        var node = P("/counter/");
        await Registry.SetValueAsync(node, "n", "0", cancellationToken: Ct);
        const int writers = 6, perWriter = 25;

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                while (true)
                {
                    var current = (await Registry.GetValueAsync(node, "n", Ct))!;
                    var next = (int.Parse(current, System.Globalization.CultureInfo.InvariantCulture) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (await Registry.TryWriteAsync(new RegistryBatch().Expect(node, "n", current).SetValue(node, "n", next).SetValue(node, $"by-{next}", $"{w}"), Ct))
                    {
                        break;
                    }
                }
            }
        }, Ct)));

        var values = await Registry.GetValuesAsync(node, Ct);
        Assert.Equal($"{writers * perWriter}", values["n"]);
        // Every increment was applied by exactly one writer: each number was taken once.
        Assert.Equal(writers * perWriter + 1, values.Count);
    }

    [Fact]
    public async Task Export_and_import_round_trip_a_subtree_with_hidden_children_and_expiries()
    {
        await Registry.SetValuesAsync(P("/src/"), new Dictionary<string, string> { ["name"] = "root", ["quote"] = "\"q\"" }, cancellationToken: Ct);
        await Registry.SetValueAsync(P("/src/"), "ttl", "t", TimeSpan.FromHours(1), Ct);
        await Registry.SetValueAsync(P("/src/a/b/"), "deep", "1", cancellationToken: Ct);
        await Registry.CreateAsync(P("/src/.hidden/"), cancellationToken: Ct);
        await Registry.SetValueAsync(P("/src/dead/"), "x", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(P("/src/dead/"), cancellationToken: Ct);

        var json = await Registry.ExportJsonAsync(P("/src/"), Ct);
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.Equal("root", doc.RootElement.GetProperty("values").GetProperty("name").GetString());
            Assert.True(doc.RootElement.GetProperty("expires").GetProperty("ttl").GetInt64() > 0);
            Assert.False(doc.RootElement.GetProperty("children").TryGetProperty("dead", out _));
        }

        await Registry.ImportJsonAsync(P("/dst/copy/"), json, Ct);

        Assert.Equal(await Registry.GetValuesAsync(P("/src/"), Ct), await Registry.GetValuesAsync(P("/dst/copy/"), Ct));
        Assert.Equal("1", await Registry.GetValueAsync(P("/dst/copy/a/b/"), "deep", Ct));
        Assert.Equal([".hidden", "a"], await Registry.GetChildrenAsync(P("/dst/copy/"), true, Ct));
        Assert.Equal(json, await Registry.ExportJsonAsync(P("/dst/copy/"), Ct));
        Time.Advance(TimeSpan.FromHours(2));
        Assert.Null(await Registry.GetValueAsync(P("/dst/copy/"), "ttl", Ct));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"values\":{\"a\":1}}")]
    [InlineData("{\"values\":[]}")]
    [InlineData("{\"children\":{\"..\":{}}}")]
    [InlineData("{\"children\":{\"ok\":{\"values\":{\"x\":\"1\"}},\"bad\":3}}")]
    [InlineData("{\"expires\":{\"a\":\"soon\"}}")]
    public async Task Importing_a_document_that_is_not_an_export_fails_and_writes_nothing(string json)
    {
        await Assert.ThrowsAsync<RegistryImportException>(() => Registry.ImportJsonAsync(P("/imp/"), json, Ct).AsTask());
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/imp/"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(P("/imp/ok/"), Ct));
    }

    [Fact]
    public async Task Copy_duplicates_a_subtree_and_merges_into_an_existing_target()
    {
        await Registry.SetValueAsync(P("/from/"), "a", "1", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/from/kid/"), "b", "2", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/to/"), "a", "old", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/to/"), "keep", "k", cancellationToken: Ct);

        await Registry.CopyAsync(P("/from/"), P("/to/"), Ct);

        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["keep"] = "k" }, await Registry.GetValuesAsync(P("/to/"), Ct));
        Assert.Equal("2", await Registry.GetValueAsync(P("/to/kid/"), "b", Ct));
        Assert.Equal("1", await Registry.GetValueAsync(P("/from/"), "a", Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Registry.CopyAsync(P("/from/"), P("/from/kid/x/"), Ct).AsTask());
        await Assert.ThrowsAsync<RegistryNodeNotFoundException>(() => Registry.CopyAsync(P("/nothing/"), P("/t/"), Ct).AsTask());
    }

    [Fact]
    public async Task Move_copies_then_deletes_the_source()
    {
        await Registry.SetValueAsync(P("/old/place/"), "a", "1", cancellationToken: Ct);
        await Registry.SetValueAsync(P("/old/place/kid/"), "b", "2", cancellationToken: Ct);

        await Registry.MoveAsync(P("/old/place/"), P("/new/place/"), Ct);

        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(P("/old/place/"), Ct));
        Assert.Empty(await Registry.GetChildrenAsync(P("/old/"), cancellationToken: Ct));
        Assert.Equal("1", await Registry.GetValueAsync(P("/new/place/"), "a", Ct));
        Assert.Equal("2", await Registry.GetValueAsync(P("/new/place/kid/"), "b", Ct));
    }
}
