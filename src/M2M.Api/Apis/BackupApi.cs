using Microsoft.Extensions.DependencyInjection;
using System.Globalization;
using M2M.Storage.Backup;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace M2M.Api.Apis;

/// <summary><c>/api/backup</c>: administrators take a consistent backup of the running node's storage (<c>docs/operations.md</c>).</summary>
public static class BackupApi
{
    public static RouteGroupBuilder MapBackupApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/backup").WithTags("Backup").RequireAuthorization(ApiExtensions.AdminPolicy);
        group.MapPost("", Create).WithName("createBackup")
            .WithSummary("A consistent backup of the embedded database and the data directory's keys, taken now while the node runs, streamed as a .tar.gz archive.")
            .Produces(StatusCodes.Status200OK, contentType: "application/gzip");
        return group;
    }

    internal static Results<PushStreamHttpResult, ProblemHttpResult> Create(IServiceProvider services, TimeProvider time, HttpContext http)
    {
        if (services.GetService<IStorageBackup>() is not { } backup)
        {
            return TypedResults.Problem(
                "This storage backend has no built-in backup: back up the database server with its own tools (PostgreSQL: pg_dump, or base backups with WAL archiving).",
                statusCode: StatusCodes.Status501NotImplemented);
        }
        var name = $"m2m-backup-{time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}.tar.gz";
        return TypedResults.Stream(output => backup.WriteArchiveAsync(output, http.RequestAborted), "application/gzip", name);
    }
}
