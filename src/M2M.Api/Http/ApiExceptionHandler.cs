using System.Text.Json;
using System.Text.RegularExpressions;
using M2M.Storage;
using M2M.Storage.Entities;
using M2M.Storage.Files;
using M2M.Storage.Registry;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace M2M.Api.Http;

/// <summary>
/// Turns exceptions into RFC 7807 answers: bad requests (malformed or unknown JSON, unbindable
/// query values) into 400 naming the field, oversize bodies into 413, the storage's typed errors
/// into 400/404/409, writes that failed for lack of disk space into 507, anything else into a 500
/// that shows nothing of the failure.
/// </summary>
public sealed partial class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            // The client is gone: nobody to answer.
            return true;
        }
        var (status, title, errors) = Classify(exception);
        if (status == StatusCodes.Status507InsufficientStorage)
        {
            logger.LogWarning("Request {Method} {Path} failed for lack of disk space: {Reason}", context.Request.Method, context.Request.Path, exception.Message);
        }
        else if (status >= 500)
        {
            logger.LogError(exception, "Request {Method} {Path} failed", context.Request.Method, context.Request.Path);
        }
        else
        {
            LogRejected(logger, context.Request.Method, context.Request.Path, status, exception.GetType().Name);
        }
        if (context.Response.HasStarted)
        {
            return true;
        }
        context.Response.StatusCode = status;
        var problem = errors is null
            ? new ProblemDetails { Status = status, Title = title }
            : new HttpValidationProblemDetails(errors) { Status = status, Title = title };
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    internal static (int Status, string Title, Dictionary<string, string[]>? Errors) Classify(Exception exception)
    {
        if (StorageErrors.IsOutOfSpace(exception))
        {
            return (StatusCodes.Status507InsufficientStorage, "Insufficient storage: the server's disk is full.", null);
        }
        switch (exception)
        {
            case BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }:
                return (413, "The request body is too large.", null);
            case BadHttpRequestException bad when FindJsonError(bad) is { } json:
                return (400, "The request body is not valid.", JsonErrors(json));
            case BadHttpRequestException bad:
                return (bad.StatusCode, "The request is not valid.", ParameterError(bad.Message));
            case JsonException json:
                return (400, "The request body is not valid.", JsonErrors(json));
            case InvalidIdentException:
                return (400, "One or more fields are invalid.", new() { ["ident"] = [exception.Message] });
            case InvalidUserNameException:
                return (400, "One or more fields are invalid.", new() { ["name"] = [exception.Message] });
            case InvalidDomainNameException:
                return (400, "One or more fields are invalid.", new() { ["name"] = [exception.Message] });
            case RegistryPathException:
                return (400, "One or more fields are invalid.", new() { ["path"] = [exception.Message] });
            case RegistryValueNameException:
                return (400, "One or more fields are invalid.", new() { ["name"] = [exception.Message] });
            case RegistryValueException:
                return (400, "One or more fields are invalid.", new() { ["value"] = [exception.Message] });
            case EntityValidationException:
                return (400, exception.Message, null);
            case EntityNotFoundException:
            case StoredFileNotFoundException:
                return (404, "Not found.", null);
            case StoredFileIncompleteException:
                return (409, "The file is still being written.", null);
            case DuplicateNameException:
                return (409, exception.Message, null);
            case EntityInUseException:
                return (409, exception.Message, null);
            default:
                return (500, "An unexpected error occurred.", null);
        }
    }

    private static JsonException? FindJsonError(Exception exception)
    {
        for (var e = exception.InnerException; e is not null; e = e.InnerException)
        {
            if (e is JsonException json)
            {
                return json;
            }
        }
        return null;
    }

    /// <summary>The fields a JSON error is about: the missing required ones, else the one at the error's path.</summary>
    private static Dictionary<string, string[]> JsonErrors(JsonException json)
    {
        // e.g. JSON deserialization for type 'X' was missing required properties including: 'ident', 'name'.
        const string Missing = "missing required properties including: ";
        var at = json.Message.IndexOf(Missing, StringComparison.Ordinal);
        if (at >= 0)
        {
            var errors = new Dictionary<string, string[]>();
            foreach (Match m in QuotedName().Matches(json.Message[(at + Missing.Length)..]))
            {
                errors[m.Groups[1].Value] = ["Required."];
            }
            if (errors.Count > 0)
            {
                return errors;
            }
        }
        return new() { [FieldOf(json.Path)] = [Describe(json)] };
    }

    [GeneratedRegex("'([^']+)'")]
    private static partial Regex QuotedName();

    /// <summary><c>$.displayName</c> → <c>displayName</c>; the whole body when there is no path.</summary>
    private static string FieldOf(string? path) =>
        string.IsNullOrEmpty(path) || path == "$" ? "$" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;

    private static string Describe(JsonException json)
    {
        // The serializer's messages are precise but echo type names; keep the first sentence.
        var message = json.Message;
        var cut = message.IndexOf(". Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..(cut + 1)] : message;
    }

    private static Dictionary<string, string[]>? ParameterError(string message)
    {
        // e.g. Failed to bind parameter "int? limit" from "abc".  /  Required parameter "string q" was not provided from query string.
        var match = ParameterName().Match(message);
        return match.Success ? new() { [match.Groups["name"].Value] = [message] } : new() { ["$"] = [message] };
    }

    [GeneratedRegex("parameter \"(?:[^\"]* )?(?<name>[A-Za-z_][A-Za-z0-9_]*)\"")]
    private static partial Regex ParameterName();

    [LoggerMessage(Level = LogLevel.Information, Message = "Rejected {Method} {Path} with {Status} ({Error})")]
    private static partial void LogRejected(ILogger logger, string method, PathString path, int status, string error);
}
