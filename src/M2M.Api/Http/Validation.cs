using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http.HttpResults;

namespace M2M.Api.Http;

/// <summary>Builds 400 answers that name the offending field (RFC 7807 validation problems).</summary>
public static class Validation
{
    public static ValidationProblem Problem(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "One or more fields are invalid.");

    /// <summary>Parses an id from the route; on failure <paramref name="problem"/> names <paramref name="field"/>.</summary>
    public static bool TryParseId(string text, string field, out Guid id, [NotNullWhen(false)] out ValidationProblem? problem)
    {
        if (Guid.TryParse(text, out id))
        {
            problem = null;
            return true;
        }
        problem = Problem(field, "Not a valid id (a UUID such as 5f0c8a4e-…).");
        return false;
    }

    /// <summary>Checks a page size; <c>null</c> means <paramref name="fallback"/>.</summary>
    public static bool TryLimit(int? limit, int fallback, int max, out int value, [NotNullWhen(false)] out ValidationProblem? problem)
    {
        value = limit ?? fallback;
        if (value < 1 || value > max)
        {
            problem = Problem("limit", $"Must be between 1 and {max}.");
            return false;
        }
        problem = null;
        return true;
    }

    /// <summary>Text a device line can carry: no control characters; optionally no spaces either.</summary>
    public static string? CheckDeviceText(string? text, int maxLength, bool allowSpaces)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "Required and must not be empty.";
        }
        if (text.Length > maxLength)
        {
            return $"Longer than {maxLength} characters.";
        }
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return "Control characters (including line breaks) are not allowed.";
            }
            if (!allowSpaces && char.IsWhiteSpace(c))
            {
                return "Spaces are not allowed.";
            }
        }
        return null;
    }
}
