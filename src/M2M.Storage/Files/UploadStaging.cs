using System.Collections.Concurrent;
using M2M.Storage.Entities;
using M2M.Storage.Registry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace M2M.Storage.Files;

/// <summary>
/// Files being uploaded, and the removal of those a failed or killed upload left behind. A file
/// upload is written under <c>/files/.uploads/&lt;id&gt;</c> and moved in place when complete; a
/// firmware upload is written at <c>/firmware/&lt;id&gt;/file</c> and published by name when complete.
/// Either is tracked as in progress while its request runs (<see cref="Begin"/> / <see cref="Track"/>);
/// <see cref="SweepAsync"/> removes every staged file and every never-completed firmware version
/// that is not in progress in this process.
/// </summary>
/// <remarks>
/// The embedded database belongs to one process, so what this process is not writing is a leftover.
/// A registry shared by several API nodes would need the owner's liveness as well.
/// </remarks>
public sealed class UploadStaging(IRegistry registry, ILogger<UploadStaging>? logger = null)
{
    /// <summary>Registry folder of the files being uploaded.</summary>
    public static readonly RegistryPath Folder = RegistryPath.Parse("/files/.uploads/");

    private readonly ConcurrentDictionary<RegistryPath, byte> _inProgress = new();
    private readonly ILogger _logger = logger ?? NullLogger<UploadStaging>.Instance;

    /// <summary>A new staging node under <see cref="Folder"/>, in progress until the lease is disposed.</summary>
    public StagedUpload Begin() => Track(Folder.Child(Guid.NewGuid().ToString("N")));

    /// <summary>
    /// Marks <paramref name="path"/> as being written until the lease is disposed. Disposing the lease
    /// without <see cref="StagedUpload.Complete"/> removes the node (best effort: the sweep retries).
    /// </summary>
    public StagedUpload Track(RegistryPath path)
    {
        _inProgress[path] = 0;
        return new StagedUpload(this, path);
    }

    /// <summary>Whether <paramref name="path"/> is being written by this process.</summary>
    public bool IsInProgress(RegistryPath path) => _inProgress.ContainsKey(path);

    /// <summary>Removes staged files and never-completed firmware versions not in progress; returns how many.</summary>
    public async ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        var removed = 0;
        foreach (var name in await registry.GetChildrenAsync(Folder, includeHidden: true, cancellationToken).ConfigureAwait(false))
        {
            var staged = Folder.Child(name);
            if (!IsInProgress(staged) && await registry.DeleteAsync(staged, hard: true, cancellationToken).ConfigureAwait(false))
            {
                removed++;
            }
        }
        foreach (var name in await registry.GetChildrenAsync(EntityPaths.Firmware, includeHidden: true, cancellationToken).ConfigureAwait(false))
        {
            var version = EntityPaths.Firmware.Child(name);
            if (version == EntityPaths.FirmwareByName || !Guid.TryParse(name, out _) || IsInProgress(version)
                || await registry.GetStatusAsync(version, cancellationToken).ConfigureAwait(false) != RegistryNodeStatus.Created)
            {
                continue;
            }
            var complete = await registry.GetValueAsync(version.Child("file"), FileValues.Complete, cancellationToken).ConfigureAwait(false);
            if (complete != "1" && await registry.DeleteAsync(version, hard: true, cancellationToken).ConfigureAwait(false))
            {
                removed++;
            }
        }
        if (removed > 0)
        {
            _logger.LogInformation("Removed {Count} uploads left incomplete by failed or interrupted requests", removed);
        }
        return removed;
    }

    internal async ValueTask EndAsync(RegistryPath path, bool completed)
    {
        try
        {
            if (!completed)
            {
                await registry.DeleteAsync(path, hard: true, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // Typically the disk that made the upload fail; the next sweep removes it.
            _logger.LogWarning(e, "Could not remove the incomplete upload {Path}; the next sweep will", path);
        }
        finally
        {
            _inProgress.TryRemove(path, out _);
        }
    }
}

/// <summary>An upload in progress (see <see cref="UploadStaging"/>); disposing it ends it.</summary>
public sealed class StagedUpload : IAsyncDisposable
{
    private readonly UploadStaging _staging;
    private bool _completed;
    private int _ended;

    internal StagedUpload(UploadStaging staging, RegistryPath path)
    {
        _staging = staging;
        Path = path;
    }

    /// <summary>The node the upload writes.</summary>
    public RegistryPath Path { get; }

    /// <summary>The upload succeeded: the node is kept (or was moved away) when the lease ends.</summary>
    public void Complete() => _completed = true;

    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _ended, 1) == 0 ? _staging.EndAsync(Path, _completed) : ValueTask.CompletedTask;
}

/// <summary>
/// Runs <see cref="UploadStaging.SweepAsync"/> at start and every <see cref="StorageSpaceOptions.StagedUploadSweepInterval"/>;
/// does nothing in a host without a storage backend (no <see cref="IRegistry"/>).
/// </summary>
internal sealed class StagedUploadSweeper(IServiceProvider services, IServiceProviderIsService isService, IOptions<StorageSpaceOptions> options, ILogger<StagedUploadSweeper> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!isService.IsService(typeof(IRegistry)))
        {
            return;
        }
        var staging = services.GetRequiredService<UploadStaging>();
        using var timer = new PeriodicTimer(options.Value.StagedUploadSweepInterval);
        do
        {
            try
            {
                await staging.SweepAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Sweeping incomplete uploads failed; trying again in {Interval}", options.Value.StagedUploadSweepInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
