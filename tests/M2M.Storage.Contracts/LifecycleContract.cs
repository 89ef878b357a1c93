using M2M.Storage.Entities;
using M2M.Storage.Lifecycle;
using M2M.Storage.Registry;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Contracts;

/// <summary>
/// The storage maintenance (retention, registry cleanup, device deletion) over a real backend: the jobs
/// are engine-neutral, the behaviour they rely on (month drops, range expiry, cleanup by deletion time,
/// conditional batches, leases with a time-to-live) is each backend's. A backend's test class supplies a
/// fresh registry and time-series store per test.
/// </summary>
public abstract class LifecycleContract : IDisposable
{
    private readonly Lazy<(IRegistry Registry, ITimeSeriesStore Series)> _backend;

    protected LifecycleContract() => _backend = new(() => CreateBackend(Time));

    /// <summary>The test's clock: mid-June 2026.</summary>
    protected ManualTimeProvider Time { get; } = new(new DateTimeOffset(2026, 6, 15, 12, 0, 0, TimeSpan.Zero));

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A fresh, empty registry and time-series store of one backend, on <paramref name="time"/>.</summary>
    protected abstract (IRegistry Registry, ITimeSeriesStore Series) CreateBackend(TimeProvider time);

    public abstract void Dispose();

    protected IRegistry Registry => _backend.Value.Registry;

    protected ITimeSeriesStore Series => _backend.Value.Series;

    protected DomainStore Domains => field ??= new DomainStore(Registry, Time);

    protected DeviceStore Devices => field ??= new DeviceStore(Registry, Domains, Time);

    protected MaintenanceMetrics Metrics { get; } = new();

    protected RetentionJob Retention(int? months, int maxSeriesPerRun = 100_000)
        => new(Series, Domains, Registry, new RetentionOptions { Months = months, MaxSeriesPerRun = maxSeriesPerRun }, Metrics, Time);

    protected DeviceDeletions Deletions(IDeviceStore? devices = null) => new(devices ?? Devices, Registry, Series, Metrics, Time);

    protected CleanupJob Cleanup(TimeSpan grace, DeviceDeletions? deletions = null)
        => new(Registry, deletions ?? Deletions(), new CleanupOptions { GracePeriod = grace }, Metrics, Time);

    private static DateTimeOffset T(int year, int month, int day, int hour = 0) => new(year, month, day, hour, 0, 0, TimeSpan.Zero);

    /// <summary>Two records a day per type ("sen:loc", "sen:temp") for the device, 1 January to 14 June 2026.</summary>
    private async Task<List<TimeSeriesRecord>> FillAsync(Guid device)
    {
        var records = new List<TimeSeriesRecord>();
        for (var t = T(2026, 1, 1); t < T(2026, 6, 15); t += TimeSpan.FromHours(12))
        {
            records.Add(new(DeviceIds.SeriesId(device), "sen:loc", t, $$"""{"lat":1,"lon":{{t.DayOfYear}}}"""));
            records.Add(new(DeviceIds.SeriesId(device), "sen:temp", t, $$"""{"v":{{t.Hour}}}"""));
        }
        await Series.SaveManyAsync(records, Ct);
        return records;
    }

    private async Task<List<TimeSeriesRecord>> ReadAsync(Guid device)
    {
        var all = new List<TimeSeriesRecord>();
        string? next = null;
        do
        {
            var page = await Series.QueryAsync(new TimeSeriesQuery(DeviceIds.SeriesId(device), Descending: false, Limit: 1000, Continuation: next), Ct);
            all.AddRange(page.Items);
            next = page.Continuation;
        }
        while (next is not null);
        return all;
    }

    private static List<string> Months(IEnumerable<TimeSeriesRecord> records)
        => [.. records.Select(r => r.Time.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order()];

    // ------------------------------------------------------------------ retention

    [Fact]
    public async Task The_global_retention_drops_whole_expired_months_and_keeps_latest_values()
    {
        var device = (await Devices.CreateAsync("imei:ret-1", cancellationToken: Ct)).Id;
        var records = await FillAsync(device);
        // A type whose only record lies in a month that expires: its latest value must survive.
        var old = new TimeSeriesRecord(DeviceIds.SeriesId(device), "sen:fw", T(2026, 1, 3), "\"1.0\"");
        await Series.SaveAsync(old, Ct);

        // 15 June, 3 months: every record of January and February is older than 15 March; March is not.
        var report = await Retention(3).RunAsync("test", Ct);

        Assert.NotNull(report);
        Assert.True(report.Complete);
        Assert.Equal(["2026-01", "2026-02"], report.MonthsDropped);
        Assert.Equal([new DateOnly(2026, 3, 1), new DateOnly(2026, 4, 1), new DateOnly(2026, 5, 1), new DateOnly(2026, 6, 1)], await Series.GetMonthsAsync(Ct));
        Assert.Equal(records.Where(r => r.Time >= T(2026, 3, 1)).Count(), (await ReadAsync(device)).Count);
        var latest = await Series.GetLatestAsync(DeviceIds.SeriesId(device), Ct);
        Assert.Contains(old, latest);
        Assert.Contains(latest, r => r.Type == "sen:loc" && r.Time == records.Where(x => x.Type == "sen:loc").Max(x => x.Time));

        // Nothing more to do the same day; the report of the last run is kept in the registry.
        var again = await Retention(3).RunAsync("again", Ct);
        Assert.Empty(again!.MonthsDropped);
        Assert.Equal("again", (await Retention(3).GetLastRunAsync(Ct))!.Trigger);
    }

    [Fact]
    public async Task Without_a_retention_nothing_is_dropped()
    {
        var device = (await Devices.CreateAsync("imei:ret-2", cancellationToken: Ct)).Id;
        var records = await FillAsync(device);

        var report = await Retention(null).RunAsync("test", Ct);

        Assert.Empty(report!.MonthsDropped);
        Assert.Equal(0, report.RecordsExpired);
        Assert.Equal(records.Count, (await ReadAsync(device)).Count);
        Assert.Equal(6, (await Series.GetMonthsAsync(Ct)).Count);
    }

    [Fact]
    public async Task A_domain_with_a_shorter_retention_loses_its_old_months_and_other_domains_keep_theirs()
    {
        var shortLived = await Domains.CreateAsync("short", Ct);
        var keeping = await Domains.CreateAsync("keeping", Ct);
        await Domains.SetRetentionAsync(shortLived.Id, 2, Ct);
        Assert.Equal(2, (await Domains.GetAsync(shortLived.Id, Ct))!.RetentionMonths);
        var a1 = (await Devices.CreateAsync("imei:dom-a1", domainId: shortLived.Id, cancellationToken: Ct)).Id;
        var a2 = (await Devices.CreateAsync("imei:dom-a2", domainId: shortLived.Id, cancellationToken: Ct)).Id;
        var b1 = (await Devices.CreateAsync("imei:dom-b1", domainId: keeping.Id, cancellationToken: Ct)).Id;
        var a1Records = await FillAsync(a1);
        await FillAsync(a2);
        var b1Records = await FillAsync(b1);
        var a1Latest = await Series.GetLatestAsync(DeviceIds.SeriesId(a1), Ct);

        // Global: 12 months (nothing to drop); "short": 2 months → January to March are older than 15 April.
        var report = await Retention(12).RunAsync("test", Ct);

        Assert.True(report!.Complete);
        Assert.Empty(report.MonthsDropped);
        var domain = Assert.Single(report.Domains);
        Assert.Equal(("short", 2, "2026-03", 6), (domain.Name, domain.Months, domain.ClearedThrough, domain.SeriesVisited));
        Assert.Equal(["2026-04", "2026-05", "2026-06"], Months(await ReadAsync(a1)));
        Assert.Equal(["2026-04", "2026-05", "2026-06"], Months(await ReadAsync(a2)));
        Assert.Equal(a1Records.Count(r => r.Time < T(2026, 4, 1)) * 2, report.RecordsExpired);
        Assert.Equal(b1Records.Count, (await ReadAsync(b1)).Count);
        Assert.Equal(a1Latest, await Series.GetLatestAsync(DeviceIds.SeriesId(a1), Ct));

        // The watermark: the next run visits no series again.
        var next = await Retention(12).RunAsync("test", Ct);
        Assert.Equal(0, next!.SeriesVisited);

        // A month later, one more month expires and only it is visited.
        Time.Advance(TimeSpan.FromDays(31));
        var later = await Retention(12).RunAsync("test", Ct);
        Assert.Equal(("2026-04", 2), (later!.Domains.Single().ClearedThrough, later.SeriesVisited));
        Assert.Equal(["2026-05", "2026-06"], Months(await ReadAsync(a1)));
    }

    [Fact]
    public async Task A_domain_retention_is_bounded_per_run_and_the_next_runs_go_on_where_it_stopped()
    {
        var domain = await Domains.CreateAsync("bounded", Ct);
        await Domains.SetRetentionAsync(domain.Id, 3, Ct);
        var devices = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            devices.Add((await Devices.CreateAsync($"imei:bound-{i}", domainId: domain.Id, cancellationToken: Ct)).Id);
            await FillAsync(devices[^1]);
        }

        // 3 months: January and February expire → 10 (device, month) pairs, 3 per run.
        var visited = new List<int>();
        RetentionReport? report;
        do
        {
            report = await Retention(null, maxSeriesPerRun: 3).RunAsync("test", Ct);
            visited.Add(report!.SeriesVisited);
        }
        while (!report.Complete && visited.Count < 10);

        Assert.Equal([3, 3, 3, 1], visited);
        foreach (var device in devices)
        {
            Assert.Equal(["2026-03", "2026-04", "2026-05", "2026-06"], Months(await ReadAsync(device)));
        }
    }

    [Fact]
    public async Task A_domain_retention_longer_than_the_global_one_does_not_keep_data_longer()
    {
        var domain = await Domains.CreateAsync("long", Ct);
        await Domains.SetRetentionAsync(domain.Id, 24, Ct);
        var device = (await Devices.CreateAsync("imei:long-1", domainId: domain.Id, cancellationToken: Ct)).Id;
        await FillAsync(device);

        var report = await Retention(4).RunAsync("test", Ct);

        Assert.Equal(["2026-01"], report!.MonthsDropped);
        Assert.Empty(report.Domains);
        Assert.Equal(["2026-02", "2026-03", "2026-04", "2026-05", "2026-06"], Months(await ReadAsync(device)));
    }

    [Fact]
    public async Task Domain_retention_is_validated_and_can_be_cleared()
    {
        var domain = await Domains.CreateAsync("valid", Ct);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Domains.SetRetentionAsync(domain.Id, 0, Ct).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Domains.SetRetentionAsync(domain.Id, IDomainStore.MaxRetentionMonths + 1, Ct).AsTask());
        await Assert.ThrowsAsync<EntityNotFoundException>(() => Domains.SetRetentionAsync(Guid.NewGuid(), 3, Ct).AsTask());
        Assert.Equal(6, (await Domains.SetRetentionAsync(domain.Id, 6, Ct)).RetentionMonths);
        Assert.Null((await Domains.SetRetentionAsync(domain.Id, null, Ct)).RetentionMonths);
        Assert.Null((await Domains.GetAsync(domain.Id, Ct))!.RetentionMonths);
    }

    [Fact]
    public async Task A_run_while_another_node_holds_the_lease_does_nothing_until_the_lease_expires()
    {
        var device = (await Devices.CreateAsync("imei:lease-1", cancellationToken: Ct)).Id;
        await FillAsync(device);
        // Another node took the lease (what RunAsync writes) and is running the job.
        Assert.True(await Registry.TryWriteAsync(new RegistryBatch()
            .Expect(EntityPaths.Maintenance.Child(RetentionJob.Name), "lease", null)
            .SetValue(EntityPaths.Maintenance.Child(RetentionJob.Name), "lease", "other-node", TimeSpan.FromMinutes(5)), Ct));

        Assert.Null(await Retention(3).RunAsync("test", Ct));
        Assert.Equal(6, (await Series.GetMonthsAsync(Ct)).Count);
        Assert.Equal("other-node", await Retention(3).GetHolderAsync(Ct));

        // That node died: its lease expires and the job runs here.
        Time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(["2026-01", "2026-02"], (await Retention(3).RunAsync("test", Ct))!.MonthsDropped);
        Assert.Null(await Retention(3).GetHolderAsync(Ct));
    }

    // ------------------------------------------------------------------ cleanup

    [Fact]
    public async Task The_cleanup_job_removes_soft_deleted_nodes_only_after_the_grace_period()
    {
        var user = EntityPaths.Users.Child(Guid.NewGuid().ToString("D"));
        await Registry.SetValueAsync(user, "name", "gone", cancellationToken: Ct);
        await Registry.SetValueAsync(user.Child("settings"), "a", "1", cancellationToken: Ct);
        await Registry.DeleteAsync(user, cancellationToken: Ct);

        Time.Advance(TimeSpan.FromDays(6));
        var early = await Cleanup(TimeSpan.FromDays(7)).RunAsync("test", Ct);
        Assert.Equal(0, early!.NodesRemoved);
        Assert.Equal(RegistryNodeStatus.Deleted, await Registry.GetStatusAsync(user, Ct));

        Time.Advance(TimeSpan.FromDays(2));
        var late = await Cleanup(TimeSpan.FromDays(7)).RunAsync("test", Ct);
        Assert.Equal(1, late!.NodesRemoved);
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(user, Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(user.Child("settings"), Ct));
        Assert.Equal(1, (await Cleanup(TimeSpan.FromDays(7)).GetLastRunAsync(Ct))!.NodesRemoved);
    }

    // ------------------------------------------------------------------ device deletion

    [Fact]
    public async Task Purging_a_device_removes_its_subtree_ident_index_and_domain_entry_and_keeps_its_data_when_asked()
    {
        var fleet = await Domains.CreateAsync("fleet", Ct);
        var device = await Devices.CreateAsync("imei:purge-1", "Van", fleet.Id, Ct);
        await Devices.SetSettingAsync(device.Id, "gps_period", "15", Ct);
        var records = await FillAsync(device.Id);

        var deletion = await Deletions().DeleteAsync(device.Id, purgeData: false, Ct);

        Assert.Equal((DeviceDeletionState.Done, false, "imei:purge-1", fleet.Id), (deletion!.State, deletion.PurgeData, deletion.Ident, deletion.DomainId));
        Assert.Null(await Devices.GetAsync(device.Id, Ct));
        Assert.Null(await Devices.GetByIdentAsync("imei:purge-1", Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(EntityPaths.Device(device.Id), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(EntityPaths.Device(device.Id).Child("settings"), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(EntityPaths.DeviceByIdent("imei:purge-1"), Ct));
        Assert.Empty(await Domains.GetDeviceIdsAsync(fleet.Id, Ct));
        Assert.Equal(records.Count, (await ReadAsync(device.Id)).Count);
        Assert.Null(await Devices.PurgeAsync(Guid.NewGuid(), false, Ct));

        // The kept series never becomes another device's history: the ident comes back with another id.
        var again = await Devices.CreateAsync("imei:purge-1", cancellationToken: Ct);
        Assert.NotEqual(device.Id, again.Id);
        Assert.Empty(await ReadAsync(again.Id));
    }

    [Fact]
    public async Task Purging_a_device_with_its_data_deletes_its_series_in_the_background_and_reports_it()
    {
        var device = (await Devices.CreateAsync("imei:purge-2", cancellationToken: Ct)).Id;
        var other = (await Devices.CreateAsync("imei:purge-3", cancellationToken: Ct)).Id;
        var records = await FillAsync(device);
        var otherRecords = await FillAsync(other);
        var deletions = Deletions();

        var deletion = await deletions.DeleteAsync(device, purgeData: true, Ct);
        Assert.Equal(DeviceDeletionState.Data, deletion!.State);
        Assert.Equal(DeviceDeletionState.Data, (await deletions.GetAsync(device, Ct))!.State);

        Assert.Equal(1, await deletions.RunPendingAsync(cancellationToken: Ct));

        var done = await deletions.GetAsync(device, Ct);
        Assert.Equal((DeviceDeletionState.Done, (long)records.Count), (done!.State, done.RecordsDeleted));
        Assert.NotNull(done.CompletedAt);
        Assert.Empty(await ReadAsync(device));
        Assert.Empty(await Series.GetLatestAsync(DeviceIds.SeriesId(device), Ct));
        Assert.Equal(otherRecords.Count, (await ReadAsync(other)).Count);

        // Within the grace period the id stays taken; after it, the entry is forgotten and the ident's own id comes back.
        Assert.NotEqual(device, (await Devices.CreateAsync("imei:purge-2", cancellationToken: Ct)).Id);
        var reborn = await Devices.GetByIdentAsync("imei:purge-2", Ct);
        await Deletions().DeleteAsync(reborn!.Id, purgeData: true, Ct);
        await Deletions().RunPendingAsync(all: true, Ct);
        Time.Advance(TimeSpan.FromDays(8));
        var cleanup = await Cleanup(TimeSpan.FromDays(7)).RunAsync("test", Ct);
        Assert.Equal(2, cleanup!.JournalEntriesPruned);
        Assert.Null(await deletions.GetAsync(device, Ct));
        Assert.Equal(device, (await Devices.CreateAsync("imei:purge-2", cancellationToken: Ct)).Id);
    }

    [Fact]
    public async Task A_device_deleted_with_its_data_kept_can_have_its_data_purged_later()
    {
        var device = (await Devices.CreateAsync("imei:purge-4", cancellationToken: Ct)).Id;
        await FillAsync(device);
        var deletions = Deletions();
        await deletions.DeleteAsync(device, purgeData: false, Ct);

        var later = await deletions.DeleteAsync(device, purgeData: true, Ct);
        Assert.Equal(DeviceDeletionState.Data, later!.State);
        await deletions.RunPendingAsync(cancellationToken: Ct);

        Assert.Empty(await ReadAsync(device));
        Assert.Equal(DeviceDeletionState.Done, (await deletions.GetAsync(device, Ct))!.State);
    }

    [Fact]
    public async Task A_deletion_interrupted_after_its_atomic_first_step_is_finished_by_the_cleanup_job()
    {
        var fleet = await Domains.CreateAsync("crashy", Ct);
        var device = await Devices.CreateAsync("imei:crash-1", domainId: fleet.Id, cancellationToken: Ct);
        await Devices.SetStatusAsync(device.Id, "cap", "x", Ct);
        await FillAsync(device.Id);
        // The process dies after step 1 (its next registry call, the subtree removal, never happens).
        var crashing = new DeviceStore(new CrashOnHardDelete(Registry), Domains, Time);

        await Assert.ThrowsAsync<SimulatedCrash>(() => Deletions(crashing).DeleteAsync(device.Id, purgeData: true, Ct).AsTask());

        // Step 1 is whole: the device is out of its index and domain, the journal has it.
        Assert.Null(await Devices.GetByIdentAsync("imei:crash-1", Ct));
        Assert.Empty(await Domains.GetDeviceIdsAsync(fleet.Id, Ct));
        Assert.Equal(DeviceDeletionState.Registry, (await DeviceDeletionJournal.ReadAsync(Registry, device.Id, Ct))!.State);
        Assert.Equal(RegistryNodeStatus.Created, await Registry.GetStatusAsync(EntityPaths.Device(device.Id).Child("status"), Ct));

        // After a restart, the cleanup job (once the entry is stale) finishes it, data included.
        Time.Advance(DeviceDeletions.StaleAfter);
        var report = await Cleanup(TimeSpan.FromDays(7)).RunAsync("start", Ct);

        Assert.Equal(1, report!.DeletionsFinished);
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(EntityPaths.Device(device.Id), Ct));
        Assert.Equal(RegistryNodeStatus.Undefined, await Registry.GetStatusAsync(EntityPaths.DeviceByIdent("imei:crash-1"), Ct));
        Assert.Empty(await ReadAsync(device.Id));
        Assert.Equal(DeviceDeletionState.Done, (await DeviceDeletionJournal.ReadAsync(Registry, device.Id, Ct))!.State);
    }

    /// <summary>Stands for a process that dies when it reaches a real registry delete.</summary>
    private sealed class SimulatedCrash() : Exception("Simulated crash.");

    /// <summary>A registry whose real deletes never happen (the process "dies" there).</summary>
    private sealed class CrashOnHardDelete(IRegistry inner) : DelegatingRegistry(inner)
    {
        public override ValueTask<bool> DeleteAsync(RegistryPath path, bool hard = false, CancellationToken cancellationToken = default)
            => hard ? throw new SimulatedCrash() : Inner.DeleteAsync(path, hard, cancellationToken);
    }
}
